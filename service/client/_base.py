"""What both clients share: constants, the error type, one API call, and `_BaseClient`, which
decides what to send, whether to retry, how long to wait and what an answer means."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx
import numpy as np
import orjson
from numpy.typing import ArrayLike
from pydantic import BaseModel

from service.client._arrow import _arrow_stream, _pyarrow, _query_value
from service.schemas import BatchFitResponse, BatchItemError, FitResponse, Info

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
