"""Undoing RFC 3676 format=flowed, which Apple Mail and Thunderbird send: a line ending
in a space continues on the next line, so that paragraphs reflow on small screens."""

from __future__ import annotations

_SIGNATURE = "-- "


def unflow(text: str, *, delsp: bool = False) -> str:
    """The paragraphs of a format=flowed body joined back into single lines.

    Quote depth is kept: only lines of the same depth join. Space-stuffing (a leading
    space added before "From " or ">") is removed."""
    out: list[str] = []
    paragraph: list[str] = []
    paragraph_depth = 0
    for line in text.replace("\r\n", "\n").split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]
        if paragraph and (depth != paragraph_depth or content == _SIGNATURE):
            out.append(_quoted(paragraph_depth, "".join(paragraph)))
            paragraph = []
        flowed = content.endswith(" ") and content != _SIGNATURE
        if flowed:
            paragraph_depth = depth
            paragraph.append(content[:-1] if delsp else content)
            continue
        paragraph.append(content)
        out.append(_quoted(depth, "".join(paragraph)))
        paragraph = []
    if paragraph:
        out.append(_quoted(paragraph_depth, "".join(paragraph)))
    return "\n".join(out)


def _quoted(depth: int, content: str) -> str:
    if not depth:
        return content
    return ">" * depth + (" " + content if content else "")
