"""The floor of a fit request (``benchmarks/load.py``): a FastAPI app without middleware whose
``POST /fit`` does the least any service must do to answer a JSON fit of raw points, and the
same ``GET /healthz`` as the minimal app, so that the two differ only by the fit's own work.
A separate app, so that the minimal app, the yardstick of the service's /healthz, stays bare
(no NumPy, no Numba)."""

from __future__ import annotations

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
    no limits, no middleware, no log line, no metrics."""
    body = orjson.loads(await request.body())
    options = core.FitOptions(
        learning_rate=body["learning_rate"], epochs=body["epochs"], update=body["update"]
    )
    x = np.asarray(body["x"], dtype=np.float64)
    y = np.asarray(body["y"], dtype=np.float64)
    _, result = core.fit_points(x, y, None, options)
    answer = {"m": result.m, "b": result.b, "cost": result.cost}
    return Response(orjson.dumps(answer), media_type="application/json")
