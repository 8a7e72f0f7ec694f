"""Typed Python clients of the service, sync (`Client`) and async (`AsyncClient`).

Usage::

    from service.client import Client, FitServiceError

    with Client("http://127.0.0.1:8000") as client:
        result = client.fit([0, 1, 2, 3], [1, 3, 5, 7], learning_rate=0.05, epochs=2000)
        print(result.m, result.b, result.cost)      # a service.schemas.FitResponse

or, in async code, ``async with AsyncClient(...) as client: result = await client.fit(...)``.

Every failure raises `FitServiceError`: ``status_code`` is the HTTP status (``None`` when the
server could not be reached) and ``detail`` the list of error items, e.g. the 422 details
(``[{"type": "diverged", "loc": ["body", "learning_rate"], "msg": ..., "ctx": {...}}]``).

Retries (``retries`` extra attempts, waiting ``backoff`` seconds before the first and twice as
long before each next one) happen only where repeating is safe:

- connection failures (`httpx.ConnectError`, `httpx.ConnectTimeout`: nothing reached the
  server), for every request. POST /fit and POST /fit/batch are pure and stateless (the
  answer depends on the body alone, and the server keeps nothing), so sending them again
  after a failed connection is safe;
- a connection closed before the answer was complete (`httpx.RemoteProtocolError`: the
  server or a replica behind a load balancer died mid-answer), for every request, for the
  same reason;
- 502, 503 and 504 answers to idempotent GET requests (health, readiness, info);
- a 503 with ``Retry-After``, for every request: the service sends it when it is busy
  (``GDS_MAX_CONCURRENCY`` fit requests in progress), before reading the body, so nothing
  was computed. The wait is the larger of ``Retry-After`` (at most `MAX_RETRY_AFTER`
  seconds) and the back-off.

Nothing else is retried: not a read timeout (the server may still be computing), not another
5xx answer to a POST, not a 4xx.
Timeouts are always set (`DEFAULT_TIMEOUT`; pass ``timeout=`` to change them).

Large point sets travel as an Arrow IPC stream when pyarrow is installed (``arrow=None``, the
default: `ARROW_MIN_POINTS` points or more), with the other options in the query string: no
JSON text to write or parse, and the server reads float64 columns without a copy. A server
without its ``arrow`` extra answers 501 (an old one 415); the client then sends the same fit as
JSON. ``arrow=False`` always sends JSON, ``arrow=True`` always Arrow. `Client.fit_frame` fits
two columns of a pandas or Polars DataFrame (or a pyarrow Table).

Both clients share one `_BaseClient`, as httpx's own clients do: it decides what to send,
whether to retry, how long to wait and what an answer means; `Client` and `AsyncClient` only
send and sleep. Data held by Dask is reduced to its moments by `service.dask_moments`.
"""

from service.client._arrow import frame_columns
from service.client._base import (
    ARROW_MIN_POINTS,
    DEFAULT_TIMEOUT,
    MAX_RETRY_AFTER,
    FitServiceError,
)
from service.client._clients import AsyncClient, Client

__all__ = [
    "ARROW_MIN_POINTS",
    "DEFAULT_TIMEOUT",
    "MAX_RETRY_AFTER",
    "AsyncClient",
    "Client",
    "FitServiceError",
    "frame_columns",
]
