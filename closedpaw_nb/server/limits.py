"""Size limits on what a client may send the API: the request body (here, as ASGI
middleware) and the request head (uvicorn's h11 parser, see `runner.uvicorn_config`).

Without them one request could make the server hold any amount of memory: uvicorn's
httptools parser has no header cap, and nothing capped a JSON body.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_response

__all__ = ["DEFAULT_MAX_BODY_BYTES", "DEFAULT_MAX_HEADER_BYTES", "BodyLimitMiddleware"]

# A chat of 1,000 messages of 1 MB each would not fit, but no real chat is near that; the
# limit is settable (create_app(max_body_bytes=...), `serve --max-body-bytes`).
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_HEADER_BYTES = 64 * 1024


class BodyLimitMiddleware:
    """Answers 413 (JSON error envelope) to a body over `max_bytes`, declared or streamed.

    A declared Content-Length over the limit is refused before any byte is read; a body
    sent without one (chunked) is counted as it arrives, and the app is told the client
    went away once it passes the limit, so at most `max_bytes` plus one chunk is held.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.strip().isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # the 413 below answers instead of whatever the app made of the cut body
            started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413,
            "payload_too_large",
            f"the request body is larger than this server accepts ({self.max_bytes} bytes); send a "
            "smaller one, or start the server with a larger --max-body-bytes",
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)
