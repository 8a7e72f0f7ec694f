"""Benchmark of the descent core against its peers, printed as Markdown tables.

    make bench            # or: .venv/bin/python benchmarks/core.py [--quick] [--runs 3]
    .venv/bin/python benchmarks/core.py --sizes 1000000 --no-per-epoch   # one size only

Peers, on the same arrays, epochs and learning rate, in the same run:

- closed form: NumPy's two-pass least squares (means, then centred sums); the unit.
- this core: `service.core.fit` (one O(n) pass, then O(sqrt(epochs)) matrix work).
- article's code: the article's pure-Python loops (n = 100 only; hours at n = 1e6).
- NumPy per-epoch loop: each epoch one vectorized pass over the data, O(n * epochs).
- scikit-learn SGDRegressor: stochastic gradient descent, one update per point per epoch;
  a different algorithm that does not reproduce these iterates, shown for scale.

Where a peer would take minutes, it runs fewer epochs and is scaled linearly to the full
count (each epoch costs the same); such rows say "extrapolated".
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import numba
import numpy as np
from _article import article_fit

from service.core import FitOptions, FitResult, Moments, compute_moments, fit, fit_moments
from service.examples import ARTICLE_X as AX
from service.examples import ARTICLE_Y as AY
from service.operations import core_inputs, fit_body, fit_inputs
from service.schemas import FitRequest

LEARNING_RATE = 0.001
EPOCHS = 10_000
TIMED_CALLS = 2000
"""Calls of each timed microsecond-scale function (`timed` runs two more to warm up)."""


def numpy_loop(x: np.ndarray, y: np.ndarray, epochs: int, lr: float) -> tuple[float, float]:
    """Per-epoch vectorized descent (simultaneous rule)."""
    m = b = 0.0
    for _ in range(epochs):
        residual = y - (m * x + b)
        m, b = m + lr * 2 * float(np.mean(x * residual)), b + lr * 2 * float(np.mean(residual))
    return m, b


def closed_form(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    mean_x, mean_y = x.mean(), y.mean()
    dx = x - mean_x
    slope = float((dx * (y - mean_y)).sum() / (dx * dx).sum())
    return slope, float(mean_y - slope * mean_x)


def sgd(x: np.ndarray, y: np.ndarray, epochs: int, lr: float) -> tuple[float, float]:
    from sklearn.linear_model import SGDRegressor

    model = SGDRegressor(
        loss="squared_error",
        penalty=None,
        learning_rate="constant",
        eta0=lr,
        max_iter=epochs,
        tol=None,
        shuffle=False,
        random_state=0,
    )
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(x[:, None], y)
    return float(model.coef_[0]), float(model.intercept_[0])


def timed(func: Callable[[], Any], repeat: int) -> float:
    """Median wall time of `repeat` runs, in seconds (runs under 50 µs are timed in groups
    of 100, so that the clock's resolution does not count)."""
    func()  # warm-up
    start = time.perf_counter()
    func()
    group = 100 if time.perf_counter() - start < 5e-5 else 1
    times = []
    for _ in range(max(3, repeat // group)):
        start = time.perf_counter()
        for _ in range(group):
            func()
        times.append((time.perf_counter() - start) / group)
    return statistics.median(times)


def timed_each(make: Callable[[], Any], func: Callable[[Any], Any], count: int) -> float:
    """Median wall time of `func(make())` over `count` calls, in seconds, each call timed on
    its own and `make` (a fresh argument per call) outside the timing."""
    func(make())  # warm-up
    times = []
    for _ in range(count):
        argument = make()
        start = time.perf_counter()
        func(argument)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _fit_next(inputs: Iterator[tuple[FitRequest, Any, Any]]) -> tuple[Moments, FitResult]:
    return fit_inputs(*next(inputs))


def _fit_body_next(bodies: Iterator[FitRequest]) -> tuple[Moments, FitResult]:
    return fit_body(next(bodies))


def data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The article's data set, stretched to n points."""
    rng = np.random.default_rng(seed)
    x = np.linspace(-1, 1, n) + rng.normal(0, 0.25, n)
    y = np.linspace(-1, 1, n) + rng.normal(0, 0.25, n)
    return x, y


def compare(n: int, quick: bool) -> list[tuple[str, float, str]]:
    x, y = data(n)
    big = n >= 100_000
    repeat = 3 if big else 7
    rows: list[tuple[str, float, str]] = []
    rows.append(("NumPy closed form", timed(lambda: closed_form(x, y), repeat * 3), ""))
    options = FitOptions(learning_rate=LEARNING_RATE, epochs=EPOCHS)
    rows.append(("this core", timed(lambda: fit(x, y, options), repeat * 3), "exact iterates"))
    if not big:
        # The contract's target: from the parsed request (JSON lists) to the result, as
        # Server-Timing's fit.
        xs, ys = x.tolist(), y.tolist()

        def from_request() -> FitResult:
            return fit_moments(compute_moments(np.asarray(xs), np.asarray(ys)), options)

        rows.append(
            (
                "this core, from the parsed request",
                timed(from_request, TIMED_CALLS),
                "no statistics",
            )
        )

        # Exactly the block `Server-Timing: fit` times (`operations.fit_inputs`, the time in
        # the core): from the body's core inputs (its points as float64 arrays, its options)
        # to the moments, the descent, the warnings and the statistics. "hot": one call after
        # another on fresh validated bodies (the code in the CPU's caches, as the closed
        # form's is); "with its conversions": `fit_body`, the inputs converted from the
        # body's lists too; "after its validation": each call right after its body was
        # validated and converted, outside the timing, as in a server, where parsing and
        # validation have just evicted the core's code from the caches.
        requests = [
            ("benchmark's data", xs, ys, {}),
            ("article's data set", AX, AY, {}),
            ("article's data set, sequential rule", AX, AY, {"update": "sequential"}),
        ]
        for name, rx, ry, extra in requests:
            payload: dict[str, Any] = {
                "x": rx,
                "y": ry,
                "learning_rate": LEARNING_RATE,
                "epochs": EPOCHS,
                **extra,
            }
            make = partial(FitRequest.model_validate, payload)

            def prepared(make: Callable[[], FitRequest] = make) -> tuple[FitRequest, Any, Any]:
                body = make()
                return (body, *core_inputs(body))

            inputs = iter([prepared() for _ in range(TIMED_CALLS + 10)])
            hot = timed(partial(_fit_next, inputs), TIMED_CALLS)
            rows.append((f"Server-Timing's fit, {name}, hot", hot, "target <= 5 x"))
            if not extra:
                bodies = iter([make() for _ in range(TIMED_CALLS + 10)])
                converted = timed(partial(_fit_body_next, bodies), TIMED_CALLS)
                rows.append((f"... {name}, with its conversions", converted, "lists to arrays"))
                seconds = timed_each(prepared, lambda args: fit_inputs(*args), TIMED_CALLS)
                rows.append((f"... {name}, after its validation", seconds, "as in a server"))
    if not big:
        xs, ys = x.tolist(), y.tolist()
        epochs = 1000 if quick else EPOCHS
        seconds = timed(lambda: article_fit(xs, ys, epochs, LEARNING_RATE), 1) * EPOCHS / epochs
        rows.append(("article's code", seconds, _note(epochs)))
    epochs = 20 if big else (1000 if quick else EPOCHS)
    seconds = timed(lambda: numpy_loop(x, y, epochs, LEARNING_RATE), 1) * EPOCHS / epochs
    rows.append(("NumPy per-epoch loop", seconds, _note(epochs)))
    try:
        epochs = 5 if big else (1000 if quick else EPOCHS)
        seconds = timed(lambda: sgd(x, y, epochs, LEARNING_RATE), 1) * EPOCHS / epochs
        note = "; ".join(filter(None, ("different algorithm (stochastic)", _note(epochs))))
        rows.append(("scikit-learn SGDRegressor", seconds, note))
    except ImportError:
        rows.append(
            ("scikit-learn SGDRegressor", float("nan"), "not installed (pip install .[bench])")
        )
    return rows


def _note(epochs: int) -> str:
    return "" if epochs == EPOCHS else f"extrapolated from {epochs:,} epochs"


SLOW_RATE = 1e-6
"""The per-epoch table's learning rate: slow enough that no run ends early (tolerance 0 is
never met before float64's range runs out of room, so every epoch is scanned)."""


def per_epoch(quick: bool) -> list[tuple[str, int, float]]:
    moments = compute_moments(*data(100))
    rows = []
    for epochs in (
        (10_000, 100_000, 1_000_000) if quick else (10_000, 100_000, 1_000_000, 10_000_000)
    ):
        recorded = {"history_points": 10_000, "history_spacing": "log", "tolerance": 0.0}
        for label, extra in (
            ("final point only", {}),
            ("history 10,000 log points + tolerance", recorded),
            ("... sequential rule", {**recorded, "update": "sequential"}),
            ("... momentum", {**recorded, "optimizer": "momentum"}),
            ("... Nesterov", {**recorded, "optimizer": "nesterov"}),
        ):
            options = FitOptions(learning_rate=SLOW_RATE, epochs=epochs, **extra)  # type: ignore[arg-type]
            assert fit_moments(moments, options).epochs_run == epochs, "a run ended early"
            rows.append(
                (label, epochs, timed(lambda o=options: fit_moments(moments, o), 5) / epochs)
            )
    return rows


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(
                line.split(":", 1)[1].strip() for line in info if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"NumPy {np.__version__}, Numba {numba.__version__}, "
        f"{platform.system()} {platform.release()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs for the slow peers")
    parser.add_argument(
        "--runs",
        type=int,
        default=3,
        help="whole comparisons per size; the table shows each row's median (default 3)",
    )
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(v) for v in text.split(",")],
        default=[100, 1_000_000],
        help="comma-separated numbers of points to compare (default 100,1000000)",
    )
    parser.add_argument(
        "--no-per-epoch", action="store_true", help="skip the table of the cost per epoch"
    )
    args = parser.parse_args()
    print(f"Machine: {machine()}\n")
    print(
        f"Fit of y = m*x + b, lr = {LEARNING_RATE}, {EPOCHS:,} epochs; times are medians of "
        f"repeated calls, then the median over {args.runs} runs (ratios likewise: each run's "
        "ratio to that run's closed form).\n"
    )
    for n in args.sizes:
        runs = [compare(n, args.quick) for _ in range(max(1, args.runs))]
        print(f"n = {n:,}\n")
        print("| implementation | time | ratio to closed form | ratios per run | note |")
        print("| --- | ---: | ---: | --- | --- |")
        for r, (name, _, note) in enumerate(runs[0]):
            seconds = statistics.median(run[r][1] for run in runs)
            ratios = [run[r][1] / run[0][1] for run in runs]
            each = ", ".join(f"{v:,.2f}" for v in ratios)
            print(
                f"| {name} | {_human(seconds)} | {statistics.median(ratios):,.2f} x | {each} "
                f"| {note} |"
            )
        print()
    if args.no_per_epoch:
        return
    print(
        f"Core cost per epoch (moments of n = 100 given, learning rate {SLOW_RATE:g}: every "
        "run goes to its last epoch; time / epochs):\n"
    )
    print("| run | epochs | ns per epoch |")
    print("| --- | ---: | ---: |")
    for label, epochs, seconds in per_epoch(args.quick):
        print(f"| {label} | {epochs:,} | {seconds * 1e9:,.2f} |")


def _human(seconds: float) -> str:
    if seconds != seconds:
        return "n/a"
    if seconds >= 1:
        return f"{seconds:,.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:,.2f} ms"
    return f"{seconds * 1e6:,.1f} µs"


if __name__ == "__main__":
    main()
