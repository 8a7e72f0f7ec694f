"""The reference apps of the HTTP targets (docs/performance.md): `app`, one ``async def`` GET
route and no middleware, for the per-request overhead (``benchmarks/load.py`` serves it), and
`body_app`, the floor of the large requests (``benchmarks/content_types.py``). The floor of a
fit request is `_floor_app`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

app = FastAPI()


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness, as the service's own route answers it."""
    return {"status": "ok"}


async def body_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The floor of a large request: a bare ASGI app that reads the whole body (its pieces
    joined, as Starlette's ``Request.body`` does) and answers 200 with its length
    (``benchmarks/content_types.py`` serves it under the service's uvicorn configuration)."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    chunks = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    answer = b'{"length": %d}' % len(b"".join(chunks))
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(answer))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": answer})
