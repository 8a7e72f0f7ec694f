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
- 502, 503 and 504 answers to idempotent GET requests (health, readiness, info).

Nothing else is retried: not a read timeout (the server may still be computing), not a 5xx
answer to a POST, not a 4xx. A ``Retry-After`` header is not read (the service sends none).
Timeouts are always set (`DEFAULT_TIMEOUT`; pass ``timeout=`` to change them).

Both clients share one `_BaseClient`, as httpx's own clients do: it decides what to send,
whether to retry, how long to wait and what an answer means; `Client` and `AsyncClient` only
send and sleep. Data held by Dask is reduced to its moments by `service.dask_moments`.
"""

from __future__ import annotations

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

__all__ = ["DEFAULT_TIMEOUT", "AsyncClient", "Client", "FitServiceError"]

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
"""Fits of a million points take a while over a slow link; connecting should not."""

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

    def __init__(self, *, retries: int, backoff: float) -> None:
        if retries < 0:
            raise ValueError(f"retries must be >= 0 (got {retries})")
        if not backoff >= 0.0:
            raise ValueError(f"backoff must be >= 0 seconds (got {backoff})")
        self.retries = retries
        self.backoff = backoff

    @staticmethod
    def _headers(api_key: str | None) -> dict[str, str]:
        """The headers of every request: JSON answers, and the bearer key if there is one."""
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        return headers

    @staticmethod
    def _fit_call(
        x: ArrayLike | None, y: ArrayLike | None, options: Mapping[str, Any]
    ) -> _Call[FitResponse]:
        """POST /fit: the points as float64 arrays, the options (models as objects) as is."""
        body = {
            key: value.model_dump() if isinstance(value, BaseModel) else value
            for key, value in options.items()
        }
        if x is not None:
            body["x"] = np.asarray(x, dtype=np.float64)
        if y is not None:
            body["y"] = np.asarray(y, dtype=np.float64)
        content = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
        return _Call("POST", "/fit", _fit_response, content)

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
        headers = {"Content-Type": "application/json"} if call.content is not None else None
        return self._http.build_request(
            call.method, call.path, content=call.content, headers=headers
        )

    def _retry_delay(self, request: httpx.Request, outcome: _Outcome, attempt: int) -> float | None:
        """Seconds to wait before sending `request` again, or None to keep `outcome`.

        `attempt` counts from 0 (the first send). A retry is due while attempts remain and
        the outcome is one repeating is safe for (see the module docstring); the waits are
        ``backoff``, ``2 * backoff``, ``4 * backoff``, ...
        """
        if attempt >= self.retries:
            return None
        if isinstance(outcome, _RETRY_ERRORS) or (
            isinstance(outcome, httpx.Response)
            and request.method == "GET"
            and outcome.status_code in _RETRY_STATUSES
        ):
            return self.backoff * 2.0**attempt
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

    Raises
    ------
    ValueError
        ``retries`` or ``backoff`` negative.
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
    ) -> None:
        super().__init__(retries=retries, backoff=backoff)
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
        return self._call(self._fit_call(x, y, options))

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
    ) -> None:
        super().__init__(retries=retries, backoff=backoff)
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=self._headers(api_key), timeout=timeout, transport=transport
        )

    async def fit(
        self, x: ArrayLike | None = None, y: ArrayLike | None = None, **options: Any
    ) -> FitResponse:
        """POST /fit (see `Client.fit`). Raises `FitServiceError`."""
        return await self._call(self._fit_call(x, y, options))

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
