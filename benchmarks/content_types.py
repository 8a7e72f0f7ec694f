"""One POST /fit of 1,000,000 points as JSON, as CSV and as an Arrow IPC stream, end to end.

    .venv/bin/python benchmarks/content_types.py [--points N] [--repeat R]

Target (docs/performance.md): the Arrow request takes at most 1/10 of the JSON request's
time (aim 1/30), the CSV request no longer than the JSON one (aim half). The three bodies
carry the same float64 points (full precision, written with ``repr`` in CSV), the
hyperparameters in the JSON body or the query string; the server is ``python -m service`` on
127.0.0.1 (one worker), the client one keep-alive httpx connection. The answers are checked
to be the same bytes. The floor is ``orjson.loads`` of the JSON body plus ``np.array`` of
its two lists, in process. The receive floor is the same Arrow request to a bare ASGI app
that only reads the body (``_minimal_app.body_app``) under the service's uvicorn configuration
(its HTTP protocol and event loop), with glibc's default malloc settings and with the
service's (`service.app.tune_malloc`): what any app pays to receive that body. Needs pyarrow
(the ``arrow`` extra) in the server's environment."""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import httpx
import numpy as np
import orjson
import pyarrow as pa
from _server import running_server
from large_request import median_seconds, parse_to_arrays

FIELDS = {"learning_rate": 0.01, "epochs": 10_000}
QUERY = "learning_rate=0.01&epochs=10000"
ARROW = "Arrow (application/vnd.apache.arrow.stream)"

_BODY_APP = f"""
import sys
import uvicorn
sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
from service.app import tune_malloc
from service.protocol import GuardedHttpToolsProtocol
if sys.argv[1] == "tuned":
    tune_malloc()
uvicorn.run("_minimal_app:body_app", host="127.0.0.1", port=int(sys.argv[2]),
            http=GuardedHttpToolsProtocol, log_level="warning", access_log=False)
"""
RECEIVE_FLOORS = {
    "bare ASGI app reading the Arrow body, glibc malloc defaults": "default",
    "bare ASGI app reading the Arrow body, the service's malloc settings": "tuned",
}


def make_points(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    x = rng.normal(0.0, 1.0, n)
    return x, 2.0 * x + 1.0 + rng.normal(0.0, 0.5, n)


def bodies(x: np.ndarray, y: np.ndarray) -> dict[str, tuple[str, bytes, str]]:
    """name -> (path with query, body, content type)."""
    as_json = orjson.dumps({"x": x, "y": y, **FIELDS}, option=orjson.OPT_SERIALIZE_NUMPY)
    rows = "\n".join(f"{a!r},{b!r}" for a, b in zip(x.tolist(), y.tolist(), strict=True))
    as_csv = f"x,y\n{rows}\n".encode()
    table = pa.table({"x": x, "y": y})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    as_arrow = sink.getvalue().to_pybytes()
    return {
        "JSON (application/json)": ("/fit", as_json, "application/json"),
        "CSV (text/csv)": (f"/fit?{QUERY}", as_csv, "text/csv"),
        ARROW: (
            f"/fit?{QUERY}",
            as_arrow,
            "application/vnd.apache.arrow.stream",
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    x, y = make_points(args.points)
    cases = bodies(x, y)
    json_body = cases["JSON (application/json)"][1]

    floor = median_seconds(lambda: parse_to_arrays(json_body), args.repeat)
    rows: list[tuple[str, int, float]] = []
    answers: set[bytes] = set()
    with running_server() as (url, _):
        with httpx.Client(base_url=url, timeout=300) as client:
            client.post("/fit", json={"x": [0, 1, 2], "y": [1, 3, 5]}).raise_for_status()
            for name, (path, body, content_type) in cases.items():
                headers = {"Content-Type": content_type}

                def post(path: str = path, body: bytes = body, headers: dict = headers) -> None:
                    response = client.post(path, content=body, headers=headers)
                    response.raise_for_status()
                    answers.add(response.content)

                post()  # warm up (imports pyarrow on the first table body)
                rows.append((name, len(body), median_seconds(post, args.repeat)))
    assert len(answers) == 1, "the three encodings answered differently"
    path, arrow_body, content_type = cases[ARROW]
    for name, malloc in RECEIVE_FLOORS.items():
        argv = [sys.executable, "-c", _BODY_APP, malloc, "{port}"]
        with running_server(argv=argv, quiet=True) as (url, _):
            with httpx.Client(base_url=url, timeout=300) as client:

                def receive_only() -> None:
                    response = client.post(
                        path, content=arrow_body, headers={"Content-Type": content_type}
                    )
                    response.raise_for_status()

                receive_only()
                rows.append((name, len(arrow_body), median_seconds(receive_only, args.repeat)))

    json_seconds = rows[0][2]
    print(f"n = {args.points:,} points, median of {args.repeat}; ", end="")
    print(f"Python {platform.python_version()}, {platform.machine()}, pyarrow {pa.__version__}\n")
    print("| what | body | time | x JSON request | x orjson floor |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(
        f"| orjson.loads + np.array of the JSON body (floor) | | {floor * 1000:.0f} ms | "
        f"{floor / json_seconds:.3f} | 1.00 |"
    )
    for name, size, seconds in rows:
        what = name if name in RECEIVE_FLOORS else f"POST /fit, {name}"
        print(
            f"| {what} | {size / 2**20:.1f} MiB | {seconds * 1000:.0f} ms | "
            f"{seconds / json_seconds:.3f} | {seconds / floor:.2f} |"
        )
    print("\nThe three answers are the same bytes.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
