"""`Client` (httpx.Client) and `AsyncClient` (httpx.AsyncClient): they only send and sleep;
every decision is `_BaseClient`'s."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import anyio
import httpx
from numpy.typing import ArrayLike

from service.client._arrow import frame_columns
from service.client._base import (
    _INFO,
    _READY,
    _T,
    DEFAULT_TIMEOUT,
    FitServiceError,
    _BaseClient,
    _Call,
    _Outcome,
)
from service.schemas import BatchItemError, FitResponse, Info


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
