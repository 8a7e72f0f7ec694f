"""The reference apps of the HTTP targets (docs/performance.md): `app`, one ``async def`` GET
route and no middleware, for the per-request overhead, with a second route, ``POST /fit``, the
floor of a fit request (``benchmarks/load.py`` serves both), and `body_app`, the floor of the
large requests (``benchmarks/content_types.py``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from fastapi import FastAPI, Request, Response

from service import core

app = FastAPI()


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness, as the service's own route answers it."""
    return {"status": "ok"}


@app.post("/fit")
async def fit(request: Request) -> Response:
    """The least any service must do to answer a JSON fit of raw points: parse the body with
    orjson into two float64 arrays, run the service's core on them (moments, descent and
    statistics, the same call as the service's) and answer m, b and the cost. No validation,
    no limits, no middleware, no log line, no metrics: ``benchmarks/load.py`` measures the
    ceiling of the service's POST /fit against its /healthz with it."""
    body = orjson.loads(await request.body())
    options = core.FitOptions(
        learning_rate=body["learning_rate"], epochs=body["epochs"], update=body["update"]
    )
    x = np.asarray(body["x"], dtype=np.float64)
    y = np.asarray(body["y"], dtype=np.float64)
    _, result = core.fit_points(x, y, None, options)
    answer = {"m": result.m, "b": result.b, "cost": result.cost}
    return Response(orjson.dumps(answer), media_type="application/json")


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
