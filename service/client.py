"""Typed Python clients of the service, sync (`Client`) and async (`AsyncClient`).

Usage::

    from service.client import Client, FitServiceError

    with Client("http://127.0.0.1:8000") as client:
        result = client.fit([0, 1, 2, 3], [1, 3, 5, 7], learning_rate=0.05, epochs=2000)
        print(result.m, result.b, result.cost)      # a service.schemas.FitResponse

Every failure raises `FitServiceError`: ``status_code`` is the HTTP status (``None`` when the
server could not be reached) and ``detail`` the list of error items, e.g. the 422 details
(``[{"type": "diverged", "loc": ["body", "learning_rate"], "msg": ..., "ctx": {...}}]``).

Retries (``retries`` times, exponential back-off) happen only where repeating is safe:

- connection failures (nothing reached the server), for every request. POST /fit and
  POST /fit/batch are pure and stateless (the answer depends on the body alone, and the
  server keeps nothing), so sending them again after a failed connection is safe;
- a connection closed before the answer was complete (`httpx.RemoteProtocolError`: the
  server or a replica behind a load balancer died mid-answer, after the balancer could
  still retry it elsewhere), for every request, for the same reason;
- 502, 503 and 504 answers to idempotent GET requests (health, readiness, info).

Timeouts are always set (`DEFAULT_TIMEOUT`; pass ``timeout=`` to change them).

Data too large for one request (or living in a cluster) is sent as its moments, computed
where it lives: `moments_from_dask` (dask arrays) and `moments_from_dask_frame` (a dask
DataFrame's columns) reduce it in two passes and return the `Moments` to send::

    moments = moments_from_dask_frame(frame, x="x", y="y")
    result = client.fit(moments=moments, learning_rate=0.01)   # = the raw-data answer

Parameters (both clients)
-------------------------
base_url : str
    Where the service listens, e.g. ``"http://127.0.0.1:8000"``.
api_key : str, optional
    Sent as ``Authorization: Bearer <api_key>`` (needed when the server sets GDS_API_KEYS).
timeout : httpx.Timeout or float, optional
retries : int, optional
    Extra attempts for the safe cases above (default 2).
transport : httpx transport, optional
    E.g. ``httpx.ASGITransport(app=create_app(...))`` to talk to an app in-process.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import anyio
import httpx
import numpy as np
import orjson
from numpy.typing import ArrayLike
from pydantic import BaseModel

from service.schemas import BatchFitResponse, BatchItemError, FitResponse, Info, Moments

__all__ = [
    "DEFAULT_TIMEOUT",
    "AsyncClient",
    "Client",
    "FitServiceError",
    "moments_from_dask",
    "moments_from_dask_frame",
]

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
"""Fits of a million points take a while over a slow link; connecting should not."""

_RETRY_STATUSES = frozenset({502, 503, 504})
_BACKOFF_SECONDS = 0.1


class FitServiceError(Exception):
    """The service refused or failed a request, or could not be reached.

    Attributes
    ----------
    status_code : int or None
        HTTP status, or None when no answer came (connection failure, timeout).
    detail : list of dict
        The error items: FastAPI's 422 ``detail`` list as is; other errors as one item
        ``{"msg": ...}``.
    request_id : str or None
        The ``X-Request-ID`` of the answer, to find the request in the server's logs.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None,
        detail: list[dict[str, Any]],
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.detail = detail
        self.request_id = request_id


def _fit_body(x: ArrayLike | None, y: ArrayLike | None, options: Mapping[str, Any]) -> bytes:
    body = {
        key: value.model_dump() if isinstance(value, BaseModel) else value
        for key, value in options.items()
    }
    if x is not None:
        body["x"] = np.asarray(x, dtype=np.float64)
    if y is not None:
        body["y"] = np.asarray(y, dtype=np.float64)
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


def _batch_body(fits: Sequence[Mapping[str, Any]]) -> bytes:
    return orjson.dumps(
        {"fits": list(fits)}, option=orjson.OPT_SERIALIZE_NUMPY, default=_dump_model
    )


def _dump_model(value: Any) -> Any:
    """orjson's fallback: models (e.g. `Moments`) as their JSON objects."""
    if isinstance(value, BaseModel):
        return value.model_dump()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def moments_from_dask(x: Any, y: Any) -> Moments:
    """The `Moments` of points held in two 1-D dask arrays (or anything ``da.asarray`` takes).

    Two passes, each one dask computation whose per-chunk partial sums merge across chunks
    (and workers): n and the sums of x and y give the means; then the centred sums
    ``sxx = sum (x - mean_x)^2``, ``sxy``, ``syy``, which keep their digits for data far
    from 0 (x around 1e9), as the service's own moments do. Runs on whatever scheduler is
    active (``dask.config.set(scheduler=...)`` or a distributed ``Client``).

    Raises
    ------
    ValueError
        Arrays not 1-D or of different lengths, or moments the service would refuse
        (fewer than 2 points, constant x, non-finite values): a pydantic ``ValidationError``.
    ImportError
        Without dask (``pip install 'gd-fit-service[dask]'``).
    """
    import dask.array as da

    xs, ys = (
        da.asarray(values).astype(np.float64)  # type: ignore[no-untyped-call]
        for values in (x, y)
    )
    if xs.ndim != 1 or ys.ndim != 1:
        raise ValueError(f"x and y must be 1-D (got {xs.ndim}-D and {ys.ndim}-D)")
    if math.isnan(xs.shape[0]):
        xs = xs.compute_chunk_sizes()
    if math.isnan(ys.shape[0]):
        ys = ys.compute_chunk_sizes()
    if xs.shape[0] != ys.shape[0]:
        raise ValueError(f"x and y must have the same length (got {xs.shape[0]} and {ys.shape[0]})")
    n = int(xs.shape[0])
    sum_x, sum_y = _compute(xs.sum(), ys.sum())
    return _centred(n, float(sum_x), float(sum_y), xs, ys, {})


def moments_from_dask_frame(frame: Any, x: str = "x", y: str = "y") -> Moments:
    """The `Moments` of columns `x` and `y` of a dask DataFrame (see `moments_from_dask`).

    Missing values are not skipped: they make the moments non-finite, so the call raises
    rather than fit a subset of the rows silently (drop them first if that is meant).
    """
    xs, ys = frame[x].astype("float64"), frame[y].astype("float64")
    n, sum_x, sum_y = _compute(xs.size, xs.sum(skipna=False), ys.sum(skipna=False))
    return _centred(int(n), float(sum_x), float(sum_y), xs, ys, {"skipna": False})


def _compute(*collections: Any) -> tuple[Any, ...]:
    """`dask.compute`: one graph for all of `collections`, so shared inputs are read once."""
    from dask.base import compute

    results: tuple[Any, ...] = compute(*collections)  # type: ignore[no-untyped-call]
    return results


def _centred(
    n: int, sum_x: float, sum_y: float, xs: Any, ys: Any, options: Mapping[str, Any]
) -> Moments:
    """The second pass of `moments_from_dask`: centred sums about the means of the first."""
    mean_x, mean_y = sum_x / n if n else math.nan, sum_y / n if n else math.nan
    dx, dy = xs - mean_x, ys - mean_y
    sxx, sxy, syy = _compute(
        (dx * dx).sum(**options), (dx * dy).sum(**options), (dy * dy).sum(**options)
    )
    return Moments(
        n=n, mean_x=mean_x, mean_y=mean_y, sxx=float(sxx), sxy=float(sxy), syy=float(syy)
    )


def _raise_for_answer(response: httpx.Response) -> None:
    """Raise `FitServiceError` for any non-2xx answer."""
    if response.is_success:
        return
    try:
        payload = response.json()
    except ValueError:
        payload = None
    raw = payload.get("detail") if isinstance(payload, dict) else None
    if isinstance(raw, list):
        detail = [item if isinstance(item, dict) else {"msg": str(item)} for item in raw]
    else:
        detail = [{"msg": str(raw) if raw is not None else response.text}]
    summary = "; ".join(str(item.get("msg", item)) for item in detail)
    raise FitServiceError(
        f"{response.request.method} {response.request.url.path} answered "
        f"{response.status_code}: {summary}",
        status_code=response.status_code,
        detail=detail,
        request_id=response.headers.get("x-request-id"),
    )


def _unreachable(request: httpx.Request, error: httpx.TransportError) -> FitServiceError:
    return FitServiceError(
        f"{request.method} {request.url} failed: {error!r}",
        status_code=None,
        detail=[{"msg": str(error) or type(error).__name__}],
    )


def _should_retry(request: httpx.Request, outcome: httpx.Response | Exception) -> bool:
    if isinstance(outcome, httpx.ConnectError | httpx.ConnectTimeout | httpx.RemoteProtocolError):
        return True
    return (
        isinstance(outcome, httpx.Response)
        and request.method == "GET"
        and outcome.status_code in _RETRY_STATUSES
    )


def _headers(api_key: str | None) -> dict[str, str]:
    headers = {"Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


class Client:
    """Synchronous client (see the module docstring for parameters and retries)."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        *,
        api_key: str | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retries: int = 2,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.retries = retries
        self._http = httpx.Client(
            base_url=base_url, headers=_headers(api_key), timeout=timeout, transport=transport
        )

    def fit(
        self, x: ArrayLike | None = None, y: ArrayLike | None = None, **options: Any
    ) -> FitResponse:
        """POST /fit with the points (or ``moments=...``) and hyperparameters as keywords."""
        response = self._send("POST", "/fit", content=_fit_body(x, y, options))
        return FitResponse.model_validate_json(response.content)

    def fit_batch(self, fits: Sequence[Mapping[str, Any]]) -> list[FitResponse | BatchItemError]:
        """POST /fit/batch; each fit is a /fit body as a mapping (arrays may be NumPy)."""
        response = self._send("POST", "/fit/batch", content=_batch_body(fits))
        return BatchFitResponse.model_validate_json(response.content).results

    def info(self) -> Info:
        """GET /info: version and limits."""
        return Info.model_validate_json(self._send("GET", "/info").content)

    def ready(self) -> bool:
        """GET /readyz without retries: whether the server takes traffic now."""
        try:
            return self._http.get("/readyz").status_code == 200
        except httpx.TransportError:
            return False

    def _send(self, method: str, path: str, *, content: bytes | None = None) -> httpx.Response:
        headers = {"Content-Type": "application/json"} if content is not None else None
        request = self._http.build_request(method, path, content=content, headers=headers)
        for attempt in range(self.retries + 1):
            try:
                outcome: httpx.Response | httpx.TransportError = self._http.send(request)
            except httpx.TransportError as error:
                outcome = error
            if attempt < self.retries and _should_retry(request, outcome):
                time.sleep(_BACKOFF_SECONDS * 2**attempt)
                continue
            break
        if isinstance(outcome, httpx.TransportError):
            raise _unreachable(request, outcome) from outcome
        _raise_for_answer(outcome)
        return outcome

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncClient:
    """Asynchronous client, the same methods as `Client` as coroutines."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        *,
        api_key: str | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retries: int = 2,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.retries = retries
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=_headers(api_key), timeout=timeout, transport=transport
        )

    async def fit(
        self, x: ArrayLike | None = None, y: ArrayLike | None = None, **options: Any
    ) -> FitResponse:
        """POST /fit with the points (or ``moments=...``) and hyperparameters as keywords."""
        response = await self._send("POST", "/fit", content=_fit_body(x, y, options))
        return FitResponse.model_validate_json(response.content)

    async def fit_batch(
        self, fits: Sequence[Mapping[str, Any]]
    ) -> list[FitResponse | BatchItemError]:
        """POST /fit/batch; each fit is a /fit body as a mapping (arrays may be NumPy)."""
        response = await self._send("POST", "/fit/batch", content=_batch_body(fits))
        return BatchFitResponse.model_validate_json(response.content).results

    async def info(self) -> Info:
        """GET /info: version and limits."""
        return Info.model_validate_json((await self._send("GET", "/info")).content)

    async def ready(self) -> bool:
        """GET /readyz without retries: whether the server takes traffic now."""
        try:
            return (await self._http.get("/readyz")).status_code == 200
        except httpx.TransportError:
            return False

    async def _send(
        self, method: str, path: str, *, content: bytes | None = None
    ) -> httpx.Response:
        headers = {"Content-Type": "application/json"} if content is not None else None
        request = self._http.build_request(method, path, content=content, headers=headers)
        for attempt in range(self.retries + 1):
            try:
                outcome: httpx.Response | httpx.TransportError = await self._http.send(request)
            except httpx.TransportError as error:
                outcome = error
            if attempt < self.retries and _should_retry(request, outcome):
                await anyio.sleep(_BACKOFF_SECONDS * 2**attempt)
                continue
            break
        if isinstance(outcome, httpx.TransportError):
            raise _unreachable(request, outcome) from outcome
        _raise_for_answer(outcome)
        return outcome

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
