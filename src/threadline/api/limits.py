"""A ceiling on request bodies, enforced before anything reads them: a declared length
over the limit is refused at once, and a body that streams past it is cut off. Either
way the answer is 413 with the usual error body, and nothing is written."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _answer(limit: int) -> tuple[Message, Message]:
    body = json.dumps(
        {"error": {"code": "too_large", "message": f"the body is over {limit} bytes"}}
    ).encode()
    start: Message = {
        "type": "http.response.start",
        "status": 413,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ],
    }
    return start, {"type": "http.response.body", "body": body}


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                for message in _answer(self.max_bytes):
                    await send(message)
                return
        seen = 0

        async def counted_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # Raised inside the app's own reading of the body, so the app's error
                    # handlers answer it like any other 413.
                    raise HTTPException(413, f"the body is over {self.max_bytes} bytes")
            return message

        await self.app(scope, counted_receive, send)
