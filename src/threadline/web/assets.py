"""Each desk page's scripts, joined into one <script> that the page carries inline.

Why inline: a freshly opened page otherwise asks for five or six ES modules. Even from
the browser's cache each answer is a round trip through the browser process, and the
module scripts, deferred until every one has arrived, let the browser lay out and paint
the whole page first: on this two-core machine the inbox became usable 240 to 400 ms
after its HTML arrived, and 60 to 240 ms with its code inline (medians of runs of
bench/desk.py's loads, the same HTML served both ways, as busy as the machine was).
The files in static/js stay the source, written as plain ES modules; a page's modules
are linked here, once per process, by a deliberately small linker that knows only the
forms the desk uses (`import { a, b as c } from "./x.js";` and
`export function|async function|class|const name`) and refuses anything else.

The result is a classic script at the end of <body>: it runs as soon as the page above
it is parsed, so nothing sits between the end of parsing and the handlers being
attached. Each module keeps its own scope inside a function and is evaluated once,
dependencies first, as the browser would. The content security policy allows exactly
these texts, by their SHA-256 (security.py), never 'unsafe-inline'."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path

from markupsafe import Markup

STATIC_DIR = Path(__file__).parent / "static"
SCRIPTS = STATIC_DIR / "js"

_IMPORT = re.compile(r'^import \{(?P<names>[^}]*)\} from "\./(?P<module>[a-z_]+)\.js";\n', re.M)
_EXPORT = re.compile(r"^export (?:async function|function|class|const) (?P<name>\w+)", re.M)
# Any other way a module could reach another: refused rather than silently mislinked.
_UNSUPPORTED = re.compile(r"^\s*(?:import|export)\b|\bimport\s*\(|\bimport\.meta\b", re.M)


class AssetError(RuntimeError):
    """A desk module the linker cannot join (a form of import or export it does not know)."""


# Each page's entry modules, run after desk.js (which every signed-in page runs: the
# search key, the presence switch, the clocks). Templates name their page with
# `{% set scripts = "inbox" %}`; a signed-in page that names none runs desk.js alone.
PAGES: dict[str, tuple[str, ...]] = {
    "desk": (),
    "inbox": ("inbox",),
    "case": ("case", "customer"),
    "customer": ("customer",),
    "search": ("search",),
    "wallboard": ("wallboard",),
    "counter": ("counter",),
    "admin": ("admin",),
}


@cache
def page_script(page: str) -> Markup:
    """The inline script of one kind of page (one of PAGES)."""
    script = link(("desk", *PAGES[page]))
    if "</script" in script.lower():  # would end the element early
        raise AssetError(f"the {page} page's script contains </script")
    return Markup(script)  # noqa: S704 - our own files, not anyone's input


def script_hashes() -> str:
    """The CSP sources that allow every page's inline script: `'sha256-…'` each."""
    return " ".join(sorted({_sha256(page_script(page)) for page in PAGES}))


def link(entries: tuple[str, ...], directory: Path = SCRIPTS) -> str:
    """The modules `entries` (file names in `directory`, without `.js`) and everything
    they import, each evaluated once, dependencies first, in the order the browser
    would evaluate them."""
    sources: dict[str, str] = {}
    order: list[str] = []
    _visit_all(entries, order, (), lambda name: _source(directory, name, sources))
    parts = ['(() => {\n"use strict";\n']
    for name in order:
        parts.append(_wrapped(name, sources[name]))
    parts.append("})();\n")
    return "".join(parts)


def _visit_all(
    names: tuple[str, ...], order: list[str], path: tuple[str, ...], read: Callable[[str], str]
) -> None:
    for name in names:
        if name in path:
            raise AssetError(f"desk modules import each other in a circle: {(*path, name)}")
        if name not in order:
            imported = tuple(found.group("module") for found in _IMPORT.finditer(read(name)))
            _visit_all(imported, order, (*path, name), read)
            order.append(name)


def _wrapped(name: str, source: str) -> str:
    """One module as a function's body: its imports read from the modules linked before
    it, its exports returned as one object."""
    imports = []
    for found in _IMPORT.finditer(source):
        names = [part.strip() for part in found.group("names").split(",") if part.strip()]
        bindings = ", ".join(_binding(part, name) for part in names)
        imports.append(f"  const {{ {bindings} }} = {_variable(found.group('module'))};\n")
    body = _IMPORT.sub("", source)
    exports = [found.group("name") for found in _EXPORT.finditer(body)]
    body = _EXPORT.sub(lambda found: found.group(0).removeprefix("export "), body)
    if _UNSUPPORTED.search(body):
        raise AssetError(
            f"static/js/{name}.js imports or exports in a way the desk's linker does not know"
        )
    return (
        f"// static/js/{name}.js\n"
        f"const {_variable(name)} = (() => {{\n{''.join(imports)}{body}"
        f"return {{ {', '.join(exports)} }};\n}})();\n"
    )


def _binding(part: str, module: str) -> str:
    match part.split():
        case [imported]:
            return imported
        case [imported, "as", local]:
            return f"{imported}: {local}"
    raise AssetError(f"static/js/{module}.js: cannot read the import {part!r}")


def _variable(module: str) -> str:
    return f"module_{module}"


def _source(directory: Path, name: str, sources: dict[str, str]) -> str:
    if name not in sources:
        sources[name] = (directory / f"{name}.js").read_text("utf-8")
    return sources[name]


def _sha256(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"
