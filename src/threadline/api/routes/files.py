"""Downloads: attachments and raw messages. Always sent as attachments with the type
they were stored under, `nosniff` and a sandboxing Content-Security-Policy, so that a
file a customer sent is never rendered as a page of Threadline (HTML in an attachment
could otherwise run script with the desk's cookies)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path
from fastapi.responses import FileResponse

from threadline.actions.access import Principal
from threadline.api.deps import ReadDep, RuntimeDep, require
from threadline.api.keyset import MAX_ID
from threadline.api.schemas import error_responses
from threadline.api.threads import SessionEndingRoute
from threadline.errors import NotFound
from threadline.permissions import Permission, allows
from threadline.queries.files import StoredFile, attachment_file, raw_message_file

router = APIRouter(route_class=SessionEndingRoute, tags=["cases"])

Reader = Annotated[Principal, Depends(require(Permission.READ_CASES))]
FILE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/octet-stream": {}}, "description": "The file"}
}


def _disposition(filename: str) -> str:
    """RFC 6266: an ASCII fallback name and the exact UTF-8 name."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _send(runtime: RuntimeDep, stored: StoredFile) -> FileResponse:
    path = runtime.env.files.path_for(stored.sha256)
    if not path.is_file():
        raise NotFound("the file is missing from storage")
    return FileResponse(
        path,
        media_type=stored.content_type or "application/octet-stream",
        headers={
            "Content-Disposition": _disposition(stored.filename),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "Cache-Control": "private, no-store",
        },
    )


@router.get(
    "/attachments/{attachment_id}",
    response_class=FileResponse,
    responses={**FILE_RESPONSE, **error_responses(401, 403, 404, 422)},
)
def download_attachment(
    attachment_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    principal: Reader,
    runtime: RuntimeDep,
    db: ReadDep,
) -> FileResponse:
    """A file on a touch, as an attachment download."""
    private = allows(principal.role, Permission.READ_PRIVATE)
    return _send(runtime, attachment_file(db, attachment_id, private=private))


@router.get(
    "/touches/{touch_id}/raw",
    response_class=FileResponse,
    responses={**FILE_RESPONSE, **error_responses(401, 403, 404, 422)},
)
def download_raw_message(
    touch_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    principal: Reader,
    runtime: RuntimeDep,
    db: ReadDep,
) -> FileResponse:
    """The email a touch was made from, exactly as it arrived (message/rfc822)."""
    private = allows(principal.role, Permission.READ_PRIVATE)
    return _send(runtime, raw_message_file(db, touch_id, private=private))
