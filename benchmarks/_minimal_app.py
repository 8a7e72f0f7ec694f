"""The reference app of the per-request overhead target (docs/performance.md): one ``async
def`` GET route, no middleware, served by uvicorn (``benchmarks/load.py`` starts it)."""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness, as the service's own route answers it."""
    return {"status": "ok"}
