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

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

import anyio
import httpx
import numpy as np
import orjson
from numpy.typing import ArrayLike
from pydantic import BaseModel

# Their home is service.dask_moments; imported here so that `from service.client import
# moments_from_dask` keeps working for code written before they moved.
from service.dask_moments import moments_from_dask as moments_from_dask
from service.dask_moments import moments_from_dask_frame as moments_from_dask_frame
from service.schemas import BatchFitResponse, BatchItemError, FitResponse, Info

__all__ = [
    "ARROW_MIN_POINTS",
    "DEFAULT_TIMEOUT",
    "AsyncClient",
    "Client",
    "MAX_RETRY_AFTER",
    "FitServiceError",
    "frame_columns",
]

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
"""Fits of a million points take a while over a slow link; connecting should not."""

MAX_RETRY_AFTER = 10.0
"""The longest ``Retry-After`` (seconds) a client waits before sending a request again."""

ARROW_MIN_POINTS = 10_000
"""From this many points on, ``arrow=None`` sends the points as Arrow (when pyarrow imports)."""

ARROW_MEDIA_TYPE = "application/vnd.apache.arrow.stream"

_ARROW_REFUSED = frozenset({415, 501})
"""Answers to an Arrow body after which the same fit is sent again as JSON: a server without
its arrow extra (501) or older than Arrow bodies (415)."""

_RETRY_STATUSES = frozenset({502, 503, 504})
"""Answers of a gateway or a server that is not ready: retried for GET requests only."""

_RETRY_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError)
"""Transport errors after which a request of any method is sent again."""

_T = TypeVar("_T")
_HttpT = TypeVar("_HttpT", bound=httpx.Client | httpx.AsyncClient)

_Outcome = httpx.Response | httpx.TransportError
"""What one attempt gives: an answer (of any status), or the transport error it raised."""


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


@dataclass(frozen=True, slots=True)
class _Call(Generic[_T]):
    """One request of the API, and how to read its successful (2xx) answer."""

    method: str
    path: str
    parse: Callable[[httpx.Response], _T]
    content: bytes | None = None
    content_type: str = "application/json"
    params: Mapping[str, str] | None = None
    fallback: Callable[[], _Call[_T]] | None = None
    """The call to make instead when the server refuses this one's content type."""


def _fit_response(response: httpx.Response) -> FitResponse:
    return FitResponse.model_validate_json(response.content)


def _batch_results(response: httpx.Response) -> list[FitResponse | BatchItemError]:
    return BatchFitResponse.model_validate_json(response.content).results


def _info(response: httpx.Response) -> Info:
    return Info.model_validate_json(response.content)


def _is_ready(response: httpx.Response) -> bool:
    return response.status_code == 200


_INFO = _Call("GET", "/info", _info)
_READY = _Call("GET", "/readyz", _is_ready)
"""Readiness: a 200 answer; any other answer, or none, means not ready (never retried)."""


def _pyarrow() -> Any:
    """pyarrow, or None when it is not installed."""
    try:
        return importlib.import_module("pyarrow")
    except ImportError:
        return None


def _arrow_stream(pa: Any, x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> bytes:
    """An Arrow IPC stream of one record batch with the float64 columns x and y."""
    table = pa.table({"x": pa.array(x), "y": pa.array(y)})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    body: bytes = sink.getvalue().to_pybytes()
    return body


def _query_value(value: Any) -> str | None:
    """An option as a query-string value (text bare, anything else as JSON), or None when it
    is not a plain value (a model, a list...), which only a JSON body can carry."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool | int | float | np.generic):
        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    return None


def frame_columns(frame: Any, x: str, y: str) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Columns `x` and `y` of a pandas or Polars DataFrame, or a pyarrow Table, as float64
    arrays (without a copy where the column already is float64 and has no nulls).

    Raises `KeyError` when a column is missing; a null becomes NaN, which the server refuses.
    """

    def column(name: str) -> np.ndarray[Any, Any]:
        # pandas and Polars Series and pyarrow's ChunkedArray all implement __array__.
        return np.asarray(frame[name], dtype=np.float64)

    return column(x), column(y)


def _dump_model(value: Any) -> Any:
    """orjson's fallback: models (e.g. `Moments`) as their JSON objects."""
    if isinstance(value, BaseModel):
        return value.model_dump()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class _BaseClient(Generic[_HttpT]):
    """The decisions both clients share; subclasses own `_http` and only send and sleep.

    Everything here is pure (no I/O): the requests to send (`_fit_call`, `_batch_call`,
    `_request`), whether to send one again and after how long (`_retry_delay`), and what an
    attempt's outcome means (`_result`: the parsed answer, or a `FitServiceError`).
    """

    _http: _HttpT

    def __init__(self, *, retries: int, backoff: float, arrow: bool | None = None) -> None:
        if retries < 0:
            raise ValueError(f"retries must be >= 0 (got {retries})")
        if not backoff >= 0.0:
            raise ValueError(f"backoff must be >= 0 seconds (got {backoff})")
        if arrow is True and _pyarrow() is None:
            raise ValueError("arrow=True needs pyarrow: pip install pyarrow")
        self.retries = retries
        self.backoff = backoff
        self.arrow = arrow

    @staticmethod
    def _headers(api_key: str | None) -> dict[str, str]:
        """The headers of every request: JSON answers, and the bearer key if there is one."""
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        return headers

    def _fit_call(
        self, x: ArrayLike | None, y: ArrayLike | None, options: Mapping[str, Any]
    ) -> _Call[FitResponse]:
        """POST /fit: the points as float64 arrays, as Arrow when `_arrow_call` says so (with
        JSON as its fallback), else as JSON with the options (models as objects)."""
        xs = None if x is None else np.asarray(x, dtype=np.float64)
        ys = None if y is None else np.asarray(y, dtype=np.float64)

        def json_call() -> _Call[FitResponse]:
            body = {
                key: value.model_dump() if isinstance(value, BaseModel) else value
                for key, value in options.items()
            }
            if xs is not None:
                body["x"] = xs
            if ys is not None:
                body["y"] = ys
            content = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
            return _Call("POST", "/fit", _fit_response, content)

        arrow = self._arrow_call(xs, ys, options, json_call)
        return arrow if arrow is not None else json_call()

    def _arrow_call(
        self,
        x: np.ndarray[Any, Any] | None,
        y: np.ndarray[Any, Any] | None,
        options: Mapping[str, Any],
        fallback: Callable[[], _Call[FitResponse]],
    ) -> _Call[FitResponse] | None:
        """POST /fit with the points as an Arrow stream and the options in the query string,
        or None: with ``arrow=False``, without pyarrow, without both x and y of one
        dimension, for fewer than `ARROW_MIN_POINTS` points (unless ``arrow=True``), or
        with an option only JSON can carry (``moments``)."""
        pa = _pyarrow() if self.arrow is not False else None
        if pa is None or x is None or y is None or x.ndim != 1 or y.ndim != 1:
            return None
        if self.arrow is None and x.size < ARROW_MIN_POINTS:
            return None
        params = {key: _query_value(value) for key, value in options.items()}
        query = {key: value for key, value in params.items() if value is not None}
        if len(query) != len(params):
            return None
        content = _arrow_stream(pa, x, y)
        return _Call("POST", "/fit", _fit_response, content, ARROW_MEDIA_TYPE, query, fallback)

    @staticmethod
    def _fallback(call: _Call[_T], error: FitServiceError) -> _Call[_T] | None:
        """The call to make after `error` answered `call`: JSON after an Arrow body the
        server cannot read (415, 501), else None (`error` stands)."""
        if call.fallback is None or error.status_code not in _ARROW_REFUSED:
            return None
        return call.fallback()

    @staticmethod
    def _batch_call(
        fits: Sequence[Mapping[str, Any]],
    ) -> _Call[list[FitResponse | BatchItemError]]:
        """POST /fit/batch: ``{"fits": [...]}``, NumPy arrays and models serialised."""
        content = orjson.dumps(
            {"fits": list(fits)}, option=orjson.OPT_SERIALIZE_NUMPY, default=_dump_model
        )
        return _Call("POST", "/fit/batch", _batch_results, content)

    def _request(self, call: _Call[Any]) -> httpx.Request:
        """The request of `call`, with the client's base URL and headers."""
        headers = {"Content-Type": call.content_type} if call.content is not None else None
        return self._http.build_request(
            call.method, call.path, content=call.content, headers=headers, params=call.params
        )

    def _retry_delay(self, request: httpx.Request, outcome: _Outcome, attempt: int) -> float | None:
        """Seconds to wait before sending `request` again, or None to keep `outcome`.

        `attempt` counts from 0 (the first send). A retry is due while attempts remain and
        the outcome is one repeating is safe for (see the module docstring); the waits are
        ``backoff``, ``2 * backoff``, ``4 * backoff``, ...
        """
        if attempt >= self.retries:
            return None
        wait = self.backoff * 2.0**attempt
        if isinstance(outcome, httpx.Response) and outcome.status_code == 503:
            retry_after = outcome.headers.get("retry-after", "")
            if retry_after.isdigit():
                return max(wait, min(float(retry_after), MAX_RETRY_AFTER))
        if isinstance(outcome, _RETRY_ERRORS) or (
            isinstance(outcome, httpx.Response)
            and request.method == "GET"
            and outcome.status_code in _RETRY_STATUSES
        ):
            return wait
        return None

    @staticmethod
    def _result(call: _Call[_T], request: httpx.Request, outcome: _Outcome) -> _T:
        """The parsed 2xx answer; `FitServiceError` for any other answer or no answer."""
        if isinstance(outcome, httpx.TransportError):
            raise FitServiceError(
                f"{request.method} {request.url} failed: {outcome!r}",
                status_code=None,
                detail=[{"msg": str(outcome) or type(outcome).__name__}],
            ) from outcome
        if not outcome.is_success:
            raise _answer_error(outcome)
        return call.parse(outcome)

    @staticmethod
    def _ready(outcome: _Outcome) -> bool:
        """Whether `outcome` (of the one `_READY` attempt) says the server takes traffic."""
        return isinstance(outcome, httpx.Response) and _READY.parse(outcome)


def _answer_error(response: httpx.Response) -> FitServiceError:
    """The `FitServiceError` of a non-2xx answer: its status, detail items and request id."""
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
    return FitServiceError(
        f"{response.request.method} {response.request.url.path} answered "
        f"{response.status_code}: {summary}",
        status_code=response.status_code,
        detail=detail,
        request_id=response.headers.get("x-request-id"),
    )


class Client(_BaseClient[httpx.Client]):
    """Synchronous client of the service; use it as a context manager (or call `close`).

    Parameters
    ----------
    base_url : str
        Where the service listens, e.g. ``"http://127.0.0.1:8000"``.
    api_key : str, optional
        Sent as ``Authorization: Bearer <api_key>`` (needed when the server sets
        GDS_API_KEYS).
    timeout : httpx.Timeout or float, optional
        Seconds; default `DEFAULT_TIMEOUT` (60 s to read, 5 s to connect).
    retries : int, optional
        Extra attempts for the safe cases of the module docstring (default 2; 0 disables).
    backoff : float, optional
        Seconds before the first retry, doubling before each next one (default 0.1).
    transport : httpx.BaseTransport, optional
        E.g. ``httpx.MockTransport(handler)`` in tests.
    arrow : bool or None, optional
        How /fit sends the points: None (default) as an Arrow stream from `ARROW_MIN_POINTS`
        points on when pyarrow is installed (JSON again if the server cannot read Arrow),
        False always JSON, True always Arrow.

    Raises
    ------
    ValueError
        ``retries`` or ``backoff`` negative, or ``arrow=True`` without pyarrow.
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        *,
        api_key: str | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retries: int = 2,
        backoff: float = 0.1,
        transport: httpx.BaseTransport | None = None,
        arrow: bool | None = None,
    ) -> None:
        super().__init__(retries=retries, backoff=backoff, arrow=arrow)
        self._http = httpx.Client(
            base_url=base_url, headers=self._headers(api_key), timeout=timeout, transport=transport
        )

    def fit(
        self, x: ArrayLike | None = None, y: ArrayLike | None = None, **options: Any
    ) -> FitResponse:
        """POST /fit: fit y = m*x + b to the points (or to ``moments=...``).

        Parameters
        ----------
        x, y : array-like of shape (n,), optional
            The points (sent as float64); leave out when sending ``moments``.
        **options
            The other fields of a /fit body by name or alias, e.g. ``learning_rate`` (or
            ``lr``), ``epochs``, ``history_points``, ``moments`` (a `service.schemas.Moments`).

        Returns
        -------
        FitResponse
            ``m``, ``b`` (in the units of y per unit of x, and of y), ``cost`` (MSE, y-units
            squared), ``epochs_run``, ``history`` and the rest of the /fit answer.

        Raises
        ------
        FitServiceError
            Any non-2xx answer (422 with its details, 401, 413, ...) or no answer.
        """
        call = self._fit_call(x, y, options)
        try:
            return self._call(call)
        except FitServiceError as error:
            fallback = self._fallback(call, error)
            if fallback is None:
                raise
        return self._call(fallback)

    def fit_frame(self, frame: Any, x: str = "x", y: str = "y", **options: Any) -> FitResponse:
        """POST /fit of two columns of a DataFrame: y = m*x + b over its rows.

        Parameters
        ----------
        frame : pandas.DataFrame, polars.DataFrame or pyarrow.Table
            Anything whose ``frame[name]`` is a column NumPy can read (`frame_columns`).
        x, y : str
            The column names (default ``"x"`` and ``"y"``).
        **options
            The other fields of a /fit body, as for `fit`.

        Returns
        -------
        FitResponse
            As `fit`.

        Raises
        ------
        KeyError
            A column is missing.
        FitServiceError
            As `fit` (a null in a column is a 422).
        """
        return self.fit(*frame_columns(frame, x, y), **options)

    def fit_batch(self, fits: Sequence[Mapping[str, Any]]) -> list[FitResponse | BatchItemError]:
        """POST /fit/batch: several independent fits in one request.

        Parameters
        ----------
        fits : sequence of mappings
            Each a /fit body (arrays may be NumPy, ``moments`` a `Moments`).

        Returns
        -------
        list of FitResponse or BatchItemError
            One per fit, in order: a fit that failed alone (e.g. diverged) is its error item.

        Raises
        ------
        FitServiceError
            The batch as a whole refused (422, 413, ...) or no answer.
        """
        return self._call(self._batch_call(fits))

    def info(self) -> Info:
        """GET /info: name, version and the limits in force. Raises `FitServiceError`."""
        return self._call(_INFO)

    def ready(self) -> bool:
        """GET /readyz once, without retries: whether the server takes traffic now."""
        return self._ready(self._attempt(self._request(_READY)))

    def _call(self, call: _Call[_T]) -> _T:
        request = self._request(call)
        attempt = 0
        while True:
            outcome = self._attempt(request)
            delay = self._retry_delay(request, outcome, attempt)
            if delay is None:
                return self._result(call, request, outcome)
            time.sleep(delay)
            attempt += 1

    def _attempt(self, request: httpx.Request) -> _Outcome:
        try:
            return self._http.send(request)
        except httpx.TransportError as error:
            return error

    def close(self) -> None:
        """Close the connections (the context manager does it on exit)."""
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


class AsyncClient(_BaseClient[httpx.AsyncClient]):
    """Asynchronous client: the methods of `Client` as coroutines, the same parameters.

    ``transport`` is an ``httpx.AsyncBaseTransport``, e.g.
    ``httpx.ASGITransport(app=create_app(...))`` to talk to an app in-process. Use it as an
    async context manager (or await `aclose`).
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        *,
        api_key: str | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retries: int = 2,
        backoff: float = 0.1,
        transport: httpx.AsyncBaseTransport | None = None,
        arrow: bool | None = None,
    ) -> None:
        super().__init__(retries=retries, backoff=backoff, arrow=arrow)
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=self._headers(api_key), timeout=timeout, transport=transport
        )

    async def fit(
        self, x: ArrayLike | None = None, y: ArrayLike | None = None, **options: Any
    ) -> FitResponse:
        """POST /fit (see `Client.fit`). Raises `FitServiceError`."""
        call = self._fit_call(x, y, options)
        try:
            return await self._call(call)
        except FitServiceError as error:
            fallback = self._fallback(call, error)
            if fallback is None:
                raise
        return await self._call(fallback)

    async def fit_frame(
        self, frame: Any, x: str = "x", y: str = "y", **options: Any
    ) -> FitResponse:
        """POST /fit of two columns of a DataFrame (see `Client.fit_frame`)."""
        return await self.fit(*frame_columns(frame, x, y), **options)

    async def fit_batch(
        self, fits: Sequence[Mapping[str, Any]]
    ) -> list[FitResponse | BatchItemError]:
        """POST /fit/batch (see `Client.fit_batch`). Raises `FitServiceError`."""
        return await self._call(self._batch_call(fits))

    async def info(self) -> Info:
        """GET /info: name, version and the limits in force. Raises `FitServiceError`."""
        return await self._call(_INFO)

    async def ready(self) -> bool:
        """GET /readyz once, without retries: whether the server takes traffic now."""
        return self._ready(await self._attempt(self._request(_READY)))

    async def _call(self, call: _Call[_T]) -> _T:
        request = self._request(call)
        attempt = 0
        while True:
            outcome = await self._attempt(request)
            delay = self._retry_delay(request, outcome, attempt)
            if delay is None:
                return self._result(call, request, outcome)
            await anyio.sleep(delay)
            attempt += 1

    async def _attempt(self, request: httpx.Request) -> _Outcome:
        try:
            return await self._http.send(request)
        except httpx.TransportError as error:
            return error

    async def aclose(self) -> None:
        """Close the connections (the context manager does it on exit)."""
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
