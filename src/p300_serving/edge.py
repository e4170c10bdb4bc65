"""ASGI middleware at the service's edge: the public path prefix and the request size limit."""

import json

#: API Gateway's synchronous Lambda payload limit, in bytes.
DEFAULT_MAX_BODY_BYTES = 6 * 1024 * 1024


class EdgeMiddleware:
    """Set ``root_path`` for OpenAPI ``/docs`` and refuse bodies over ``max_body_bytes`` (413).

    Parameters
    ----------
    app : ASGI app
    root_path : str
        Public prefix in front of the app's paths, e.g. ``/prod`` behind an API Gateway stage;
        Mangum sets none, and without it ``/docs`` asks for ``/openapi.json`` outside the stage.
    max_body_bytes : int
        Larger request bodies get 413 before any parsing.
    """

    def __init__(self, app, *, root_path: str = "", max_body_bytes: int = DEFAULT_MAX_BODY_BYTES):
        if not isinstance(max_body_bytes, int) or max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be a positive integer, got {max_body_bytes!r}")
        if root_path and not root_path.startswith("/"):
            raise ValueError(f"root_path must be empty or start with '/', got {root_path!r}")
        self.app = app
        self.root_path = root_path.rstrip("/")
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.root_path:
            scope = scope | {"root_path": self.root_path}
        declared = _content_length(scope)
        if declared > self.max_body_bytes:
            await self._too_large(send, f"{declared} (Content-Length)")
            return
        body = await self._read_body(receive)
        if body is None:
            await self._too_large(send, f"more than {self.max_body_bytes}")
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read_body(self, receive) -> bytes | None:
        """The whole body, or None as soon as it exceeds the limit."""
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body_bytes:
                return None
            more = message.get("more_body", False)
        return b"".join(chunks)

    async def _too_large(self, send, received: str) -> None:
        detail = f"request body must be at most {self.max_body_bytes} bytes, got {received}"
        payload = json.dumps({"detail": detail}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(payload)),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


def _content_length(scope) -> int:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


def _replay(body: bytes, receive):
    """A ``receive`` that hands the buffered body over once, then defers to the real one."""
    sent = False

    async def replayed():
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed
