"""Request content types: JSON, CSV and Arrow bodies give the same answers bit for bit and the
same 422s; CSV and Arrow errors name their cells; 415 for every other type; 501 for Arrow
without pyarrow; large bodies are parsed off the event loop.

Tests that need pyarrow skip without it, except under ``CI=true``, where they must run.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import orjson
import pytest

from service.bodies import route as body_route
from service.bodies.csv_body import read_csv
from service.bodies.points import MAX_LISTED
from tests.helpers.apps import ClientFactory

pytestmark = pytest.mark.anyio

CSV = {"Content-Type": "text/csv"}
ARROW = {"Content-Type": "application/vnd.apache.arrow.stream"}
JSON = {"Content-Type": "application/json"}
ACCEPTED = "application/json, text/csv or application/vnd.apache.arrow.stream"


def need_pyarrow() -> Any:
    """pyarrow, or a skip outside CI (under CI=true it must be installed)."""
    if os.environ.get("CI") == "true":
        import pyarrow

        return pyarrow
    return pytest.importorskip("pyarrow")


@pytest.fixture
def no_pyarrow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import pyarrow`` fail, as on a server without the arrow extra."""
    for name in [name for name in sys.modules if name.split(".")[0] == "pyarrow"]:
        monkeypatch.delitem(sys.modules, name)
    for name in ("pyarrow", "pyarrow.csv", "pyarrow.ipc"):
        monkeypatch.setitem(sys.modules, name, None)


def points(n: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Full-precision random float64 points around y = 2x + 1 (every bit matters)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, n)
    return x, 2.0 * x + 1.0 + rng.normal(0.0, 0.5, n)


def csv_body(x: Any, y: Any, header: str = "x,y", newline: str = "\n") -> bytes:
    rows = [
        header,
        *(
            f"{a!r},{b!r}"
            for a, b in zip(np.asarray(x).tolist(), np.asarray(y).tolist(), strict=True)
        ),
    ]
    return (newline.join(rows) + newline).encode()


def arrow_body(columns: dict[str, Any], batches: int = 1, **options: Any) -> bytes:
    pa = need_pyarrow()
    table = pa.table(columns)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(**options)) as out:
        size = max(1, -(-table.num_rows // batches))
        for batch in table.to_batches(max_chunksize=size):
            out.write_batch(batch)
    return bytes(sink.getvalue().to_pybytes())


def json_body(x: Any, y: Any, **fields: Any) -> bytes:
    return orjson.dumps({"x": x, "y": y, **fields}, option=orjson.OPT_SERIALIZE_NUMPY)


QUERY = "learning_rate=0.01&epochs=700&history_points=5&optimizer=momentum&tolerance=null"
FIELDS = {
    "learning_rate": 0.01,
    "epochs": 700,
    "history_points": 5,
    "optimizer": "momentum",
    "tolerance": None,
}


# --- the same answer, bit for bit ---------------------------------------------------------


@pytest.mark.parametrize("n", [4, 3_000, 20_000])  # inline, and in a worker thread
async def test_json_csv_and_arrow_answer_the_same_bytes(client: httpx.AsyncClient, n: int) -> None:
    x, y = points(n)
    by_json = await client.post("/fit", content=json_body(x, y, **FIELDS), headers=JSON)
    by_csv = await client.post(f"/fit?{QUERY}", content=csv_body(x, y), headers=CSV)
    by_arrow = await client.post(
        f"/fit?{QUERY}", content=arrow_body({"x": x, "y": y}), headers=ARROW
    )
    assert by_json.status_code == 200, by_json.text
    assert by_csv.content == by_json.content
    assert by_arrow.content == by_json.content
    assert by_json.json()["history"] is not None


async def test_csv_without_pyarrow_answers_the_same_bytes(
    client: httpx.AsyncClient, no_pyarrow: None
) -> None:
    x, y = points(2_000)
    by_json = await client.post("/fit", content=json_body(x, y, **FIELDS), headers=JSON)
    quoted = b'"x","y"\n' + b"\n".join(
        f'"{a!r}","{b!r}"'.encode() for a, b in zip(x.tolist(), y.tolist(), strict=True)
    )
    for body in (csv_body(x, y), csv_body(x, y, newline="\r\n"), quoted):  # numpy, csv module
        by_csv = await client.post(f"/fit?{QUERY}", content=body, headers=CSV)
        assert by_csv.content == by_json.content


@pytest.mark.parametrize(
    "body",
    [
        b"\xef\xbb\xbfx,y\n0,1\n1,3\n2,5\n",  # byte-order mark
        b"x,y\r\n0,1\r\n1,3\r\n\r\n2,5\r\n",  # CRLF and a blank line
        b'label,y,x,note\na,1,0,\nb,3,1,"c, d"\nc,5,2,e\n',  # other columns ignored
        b'X,Y\n"0","1"\n1,3\n2,5',  # aliases, quotes, no final newline
        b"x,y\n0,1\n1, 3\n+2,5.\n",  # spaces, sign, trailing point
    ],
)
async def test_csv_forms_read_as_the_same_points(client: httpx.AsyncClient, body: bytes) -> None:
    want = await client.post("/fit", json={"x": [0, 1, 2], "y": [1, 3, 5]})
    got = await client.post("/fit", content=body, headers=CSV)
    assert got.status_code == 200, got.text
    assert got.content == want.content


@pytest.mark.parametrize(
    "content_type", ["text/csv; charset=utf-8", "text/csv; header=present", "Text/CSV"]
)
async def test_csv_content_type_parameters(client: httpx.AsyncClient, content_type: str) -> None:
    response = await client.post(
        "/fit", content=b"x,y\n0,1\n1,3\n", headers={"Content-Type": content_type}
    )
    assert response.status_code == 200, response.text


async def test_plot_takes_csv_and_arrow(client: httpx.AsyncClient) -> None:
    pytest.importorskip("matplotlib")
    x, y = points(50)
    for body, headers in ((csv_body(x, y), CSV), (arrow_body({"x": x, "y": y}), ARROW)):
        response = await client.post("/fit/plot?epochs=50", content=body, headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/png"


async def test_arrow_numeric_types_and_batches(client: httpx.AsyncClient) -> None:
    pa = need_pyarrow()
    want = await client.post("/fit", json={"x": [0, 1, 2, 3], "y": [1, 3, 5, 7.5]})
    columns = {
        "y": pa.array([1, 3, 5, 7.5], pa.float32()),
        "x": pa.array([0, 1, 2, 3], pa.int16()),
        "label": pa.array(["a", "b", "c", "d"]),
    }
    for batches in (1, 3):
        got = await client.post("/fit", content=arrow_body(columns, batches), headers=ARROW)
        assert got.status_code == 200, got.text
        assert got.content == want.content


async def test_arrow_float64_is_read_without_a_copy() -> None:
    need_pyarrow()
    x, y = points(1_000)
    body = arrow_body({"x": x, "y": y})
    request, _ = body_route.parse_body(
        body_route.FitRequest, "application/vnd.apache.arrow.stream", body, [], _limits()
    )
    arrays = request.data_arrays()  # type: ignore[attr-defined]
    raw = np.frombuffer(body, dtype=np.uint8)
    assert all(np.shares_memory(array, raw) for array in arrays)
    assert np.array_equal(arrays[0], x) and np.array_equal(arrays[1], y)


async def test_table_columns_are_read_only_whatever_their_type() -> None:
    """A converted column (int64 timestamps, several record batches) is read-only like a
    float64 view, so a request never pairs a writable array with a read-only one, which the
    core's compiled loops would compile for on first use (`kernels.warm_up` covers the two
    pure kinds)."""
    pa = need_pyarrow()
    n = 5_000  # past the exactly summed sizes: the moments' compiled pass
    x = np.arange(1_700_000_000, 1_700_000_000 + n, dtype=np.int64)
    y = np.linspace(0.0, 1.0, n)
    bodies = [arrow_body({"x": pa.array(x), "y": pa.array(y)}, batches) for batches in (1, 3)]
    for body in bodies:
        request, _ = body_route.parse_body(
            body_route.FitRequest, "application/vnd.apache.arrow.stream", body, [], _limits()
        )
        arrays = request.data_arrays()  # type: ignore[attr-defined]
        assert not any(array.flags.writeable for array in arrays)
    csv = "x,y\n" + "".join(f"{a},{b!r}\n" for a, b in zip(x.tolist(), y.tolist(), strict=True))
    points_read = read_csv(csv.encode())
    assert not points_read.x.flags.writeable and not points_read.y.flags.writeable


def _limits() -> Any:
    from service.schemas import Limits
    from service.settings import Settings

    return Limits.from_settings(Settings())


# --- the same 422s --------------------------------------------------------------------------


def _relocated(detail: list[dict[str, Any]], fields: set[str]) -> list[dict[str, Any]]:
    """JSON detail items with the hyperparameters' locations under "query"."""
    return [
        {**item, "loc": ["query", *item["loc"][1:]] if item["loc"][1] in fields else item["loc"]}
        for item in detail
    ]


@pytest.mark.parametrize(
    ("x", "y", "fields", "query"),
    [
        ([1, 1, 1], [1, 2, 3], {}, ""),  # constant x
        ([1, 2, 3], [4, 4, 4], {"standardize": True}, "standardize=true"),
        ([1], [2], {}, ""),  # one point
        ([], [], {}, ""),  # none
        (
            [1, 2, 3],
            [1, 2, 3],
            {
                "learning_rate": -1,
                "epochs": 0,
                "history_points": 1,
                "update": "sequential",
                "optimizer": "nesterov",
            },
            "learning_rate=-1&epochs=0&history_points=1&update=sequential&optimizer=nesterov",
        ),
        ([1, 2, 3], [1, 2, 3], {"epochs": 1e4}, "epochs=1e4"),  # a float is not an integer
        ([1, 2, 3], [1, 2, 3], {"standardize": "True"}, "standardize=True"),
        ([1, 2, 3], [1, 2, 3], {"momentum": "x"}, "momentum=x"),
        ([1, 2, 3], [1, 2, 3], {"lr": 0.1, "learning_rate": 0.2}, "lr=0.1&learning_rate=0.2"),
    ],
)
async def test_table_422s_are_the_json_422s(
    client: httpx.AsyncClient, x: list[float], y: list[float], fields: dict[str, Any], query: str
) -> None:
    by_json = await client.post("/fit", json={"x": x, "y": y, **fields})
    assert by_json.status_code == 422
    want = _relocated(by_json.json()["detail"], set(fields))
    x_array, y_array = np.array(x, dtype=np.float64), np.array(y, dtype=np.float64)
    bodies = [(csv_body(x_array, y_array), CSV)]
    if _has_pyarrow():
        bodies.append((arrow_body({"x": x_array, "y": y_array}), ARROW))
    for body, headers in bodies:
        got = await client.post(f"/fit?{query}", content=body, headers=headers)
        assert got.status_code == 422
        assert got.json()["detail"] == want


def _has_pyarrow() -> bool:
    try:
        need_pyarrow()
    except pytest.skip.Exception:
        return False
    return True


async def test_max_points_is_the_same_422(make_client: ClientFactory) -> None:
    x, y = points(11)
    async with make_client(max_points=10) as client:
        by_json = await client.post("/fit", content=json_body(x, y), headers=JSON)
        by_csv = await client.post("/fit", content=csv_body(x, y), headers=CSV)
    assert by_json.status_code == by_csv.status_code == 422
    assert by_csv.json() == by_json.json()


async def test_a_csv_body_over_max_body_bytes_is_a_413(make_client: ClientFactory) -> None:
    async with make_client(max_body_bytes=100) as client:
        response = await client.post("/fit", content=csv_body(*points(20)), headers=CSV)
    assert response.status_code == 413


# --- CSV errors -----------------------------------------------------------------------------


def _detail(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    detail: list[dict[str, Any]] = response.json()["detail"]
    return detail


async def test_bad_cells_are_named_by_line_and_column(client: httpx.AsyncClient) -> None:
    body = b"x,y\n0,1\n1,a\n\n2,\nnan,3\n4,1e400\n5,6,7\n1,000,2\n8,9\n"
    detail = _detail(await client.post("/fit", content=body, headers=CSV))
    assert [(item["type"], item["loc"], item.get("ctx")) for item in detail] == [
        ("float_parsing", ["body", "y", 1], {"line": 3, "column": 2}),
        ("float_parsing", ["body", "y", 2], {"line": 5, "column": 2}),
        ("finite_number", ["body", "x", 3], {"line": 6, "column": 1}),
        ("finite_number", ["body", "y", 4], {"line": 7, "column": 2}),
        ("csv_row", ["body"], {"line": 8, "fields": 3, "expected": 2}),
        ("csv_row", ["body"], {"line": 9, "fields": 3, "expected": 2}),
    ]
    assert detail[0]["msg"] == "line 3, column 2 (y): not a number"
    assert detail[1]["msg"] == "line 5, column 2 (y): the cell is empty"
    assert detail[4]["msg"] == "line 8 has 3 fields; the header row has 2"


async def test_at_most_twenty_bad_cells_then_a_count(client: httpx.AsyncClient) -> None:
    body = b"x,y\n" + b"a,b\n" * 100_000
    response = await client.post("/fit", content=body, headers=CSV)
    detail = _detail(response)
    assert len(detail) == MAX_LISTED + 1
    assert detail[-1] == {
        "type": "too_many_errors",
        "loc": ["body"],
        "msg": f"{200_000 - MAX_LISTED} more errors in the body are not listed (at most 20 are)",
        "ctx": {"omitted": 200_000 - MAX_LISTED, "listed": MAX_LISTED},
    }
    assert len(response.content) < 8_000  # the body is never echoed


async def test_a_long_bad_cell_is_shortened(client: httpx.AsyncClient) -> None:
    body = b"x,y\n0,1\n1," + b"z" * 100_000 + b"\n"
    response = await client.post("/fit", content=body, headers=CSV)
    (item,) = _detail(response)
    assert item["input"] == "z" * 40 + "..."
    assert len(response.content) < 1_000


@pytest.mark.parametrize(
    ("body", "items"),
    [
        (b"a,b\n1,2\n", [("csv_header", ["body", "x"]), ("csv_header", ["body", "y"])]),
        (b"x,x,y\n1,2,3\n", [("csv_header", ["body", "x"])]),
        (b"x,X,y\n1,2,3\n", [("csv_header", ["body", "x"])]),
        (b"x,y,weight,Weights\n1,2,1,1\n", [("csv_header", ["body", "Weights"])]),
        (b"", [("csv_header", ["body"])]),
        (b"\nx,y\n1,2\n", [("csv_header", ["body"])]),
        (b'x,"y\n1,2\n', [("csv_header", ["body"])]),
    ],
)
async def test_header_errors(
    client: httpx.AsyncClient, body: bytes, items: list[tuple[str, list[Any]]]
) -> None:
    detail = _detail(await client.post("/fit", content=body, headers=CSV))
    assert [(item["type"], item["loc"]) for item in detail] == items


@pytest.mark.parametrize("n", [5, 3_000, 20_000])  # inline, and in a worker thread
async def test_weight_columns_answer_as_json_weights(client: httpx.AsyncClient, n: int) -> None:
    x, y = points(n)
    w = np.random.default_rng(9).random(n) * 3.0
    w[::4] = 0.0  # as if absent
    by_json = await client.post("/fit", content=json_body(x, y, weights=w, **FIELDS), headers=JSON)
    assert by_json.status_code == 200, by_json.text
    rows = [
        f"{a!r},{b!r},{c!r}" for a, b, c in zip(x.tolist(), y.tolist(), w.tolist(), strict=True)
    ]
    as_csv = ("x,y,weight\n" + "\n".join(rows) + "\n").encode()
    by_csv = await client.post(f"/fit?{QUERY}", content=as_csv, headers=CSV)
    assert by_csv.content == by_json.content
    unweighted = await client.post("/fit", content=json_body(x, y, **FIELDS), headers=JSON)
    assert unweighted.content != by_json.content
    if _has_pyarrow():
        for name in ("weight", "weights"):
            body = arrow_body({"x": x, "y": y, name: w})
            by_arrow = await client.post(f"/fit?{QUERY}", content=body, headers=ARROW)
            assert by_arrow.content == by_json.content


async def test_weight_column_without_pyarrow(client: httpx.AsyncClient, no_pyarrow: None) -> None:
    body = b"x,y,weight\n0,1,1\n1,3,2\n2,5,0.5\n"
    by_csv = await client.post("/fit", content=body, headers=CSV)
    by_json = await client.post(
        "/fit", json={"x": [0, 1, 2], "y": [1, 3, 5], "weights": [1, 2, 0.5]}
    )
    assert by_csv.status_code == 200
    assert by_csv.content == by_json.content


@pytest.mark.parametrize(
    "weights",
    [[1, -1, 1], [0, 0, 0], [1, 0, 0], [2, 0, 2]],  # negative, all 0, one point, one x
)
async def test_bad_weight_columns_are_the_json_422s(
    client: httpx.AsyncClient, weights: list[float]
) -> None:
    x, y = [1.0, 2.0, 2.0], [1.0, 2.0, 3.0]
    x[2] = 1.0 if weights == [2, 0, 2] else 3.0
    by_json = await client.post("/fit", json={"x": x, "y": y, "weights": weights})
    assert by_json.status_code == 422, by_json.text
    rows = "".join(f"{a!r},{b!r},{c!r}\n" for a, b, c in zip(x, y, weights, strict=True))
    bodies = [((f"x,y,weight\n{rows}").encode(), CSV)]
    if _has_pyarrow():
        columns = {"x": x, "y": y, "weight": [float(w) for w in weights]}
        bodies.append((arrow_body(columns), ARROW))
    for body, headers in bodies:
        got = await client.post("/fit", content=body, headers=headers)
        assert got.status_code == 422
        assert got.json()["detail"] == by_json.json()["detail"]


async def test_bad_weight_cells_are_named_by_line_and_column(client: httpx.AsyncClient) -> None:
    body = b"x,y,weight\n0,1,1\n1,3,\n2,5,heavy\n"
    detail = _detail(await client.post("/fit", content=body, headers=CSV))
    assert [(item["loc"], item["ctx"]) for item in detail] == [
        (["body", "weight", 1], {"line": 3, "column": 3}),
        (["body", "weight", 2], {"line": 4, "column": 3}),
    ]


@pytest.mark.parametrize(
    "body", [b"\xff\xfe\x00garbage", b"x,y\n1,2\n3,\xe9\n", b"x,y,note\n1,2,caf\xe9\n3,4,a\n"]
)
async def test_non_utf8_csv_is_a_422_naming_the_byte(
    client: httpx.AsyncClient, body: bytes
) -> None:
    (item,) = _detail(await client.post("/fit", content=body, headers=CSV))
    assert item["type"] == "csv_encoding"
    line = body.count(b"\n", 0, len(body.split(b"\xff")[0].split(b"\xe9")[0])) + 1
    assert item["ctx"]["line"] == line
    assert "not UTF-8" in item["msg"]


async def test_csv_and_query_errors_are_reported_together(client: httpx.AsyncClient) -> None:
    detail = _detail(
        await client.post(
            "/fit?epochs=0&bogus=1&epochs=2&x=1&learning_rate=-1",
            content=b"x,y\n0,a\n1,2\n",
            headers=CSV,
        )
    )
    assert [(item["type"], item["loc"]) for item in detail] == [
        ("float_parsing", ["body", "y", 0]),
        ("extra_forbidden", ["query", "bogus"]),
        ("query_repeated", ["query", "epochs"]),
        ("extra_forbidden", ["query", "x"]),
        ("greater_than", ["query", "learning_rate"]),
    ]


async def test_query_values_are_json_values(client: httpx.AsyncClient) -> None:
    body = b"x,y\n0,1\n1,3\n2,5\n"
    query = (
        "epochs=20&tolerance=null&standardize=true&optimizer=nesterov&update=simultaneous"
        "&momentum=0.5&l2=0&initial_m=-1.5&initial_b=2&history_points=3&history_spacing=log"
        "&lr=0.1"
    )
    got = await client.post(f"/fit?{query}", content=body, headers=CSV)
    want = await client.post(
        "/fit",
        json={
            "x": [0, 1, 2],
            "y": [1, 3, 5],
            "epochs": 20,
            "tolerance": None,
            "standardize": True,
            "optimizer": "nesterov",
            "update": "simultaneous",
            "momentum": 0.5,
            "l2": 0,
            "initial_m": -1.5,
            "initial_b": 2,
            "history_points": 3,
            "history_spacing": "log",
            "lr": 0.1,
        },
    )
    assert got.status_code == 200, got.text
    assert got.content == want.content


def test_reference_reader_and_fast_readers_agree_on_odd_numbers() -> None:
    cells = ["1", "-2.5", "+3", ".5", "5.", "007", "1e3", "1E-3", " 4 ", "\t6", "1.5e+300"]
    body = ("x,y\n" + "\n".join(f"{cell},{i}" for i, cell in enumerate(cells))).encode()
    fast = read_csv(body)
    reference = read_csv(body.replace(b"x,y", b'"x","y"'))  # quotes: the csv module
    assert np.array_equal(fast.x, [float(cell) for cell in cells])
    assert np.array_equal(reference.x, fast.x) and np.array_equal(reference.y, fast.y)


# --- JSON and the query string ----------------------------------------------------------------


async def test_json_with_a_hyperparameter_in_the_query_is_a_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/fit?epochs=5&token=abc", json={"x": [0, 1], "y": [1, 3]})
    (item,) = _detail(response)
    assert (item["type"], item["loc"]) == ("extra_forbidden", ["query", "epochs"])
    assert "send it in the JSON body" in item["msg"]
    other = await client.post("/fit?token=abc", json={"x": [0, 1], "y": [1, 3]})
    assert other.status_code == 200


# --- 415 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "content_type", "accepted"),
    [
        ("/fit", "application/x-www-form-urlencoded", ACCEPTED),
        ("/fit", "text/plain", ACCEPTED),
        ("/fit", "application/xml", ACCEPTED),
        ("/fit", "multipart/form-data; boundary=x", ACCEPTED),
        ("/fit", "application/vnd.apache.arrow.file", ACCEPTED),
        ("/fit", "text/csv; charset=latin-1", ACCEPTED),
        ("/fit", None, ACCEPTED),
        ("/fit/plot", "text/plain", ACCEPTED),
        ("/fit/plot", None, ACCEPTED),
        ("/fit/batch", "text/csv", "application/json"),
        ("/fit/batch", "application/vnd.apache.arrow.stream", "application/json"),
        ("/fit/batch", "application/x-www-form-urlencoded", "application/json"),
        ("/fit/batch", None, "application/json"),
    ],
)
async def test_other_content_types_are_a_415(
    client: httpx.AsyncClient, route: str, content_type: str | None, accepted: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = await client.post(route, content=b'{"x": [1, 2], "y": [3, 4]}', headers=headers)
    assert response.status_code == 415
    detail = response.json()["detail"]
    assert detail.endswith(f"send the body as {accepted}") or f"as {accepted} (" in detail
    if content_type:
        assert f"Content-Type '{content_type}' is not accepted" in detail
    else:
        assert detail.startswith("The request has no Content-Type")


async def test_curl_d_gets_a_415_that_says_what_to_do(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/fit",
        content=b'{"x": [1, 2, 3], "y": [1, 2, 3]}',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.json() == {
        "detail": (
            "Content-Type 'application/x-www-form-urlencoded' is not accepted: send the body "
            f"as {ACCEPTED} (curl -d sends form data; add -H 'Content-Type: application/json')"
        )
    }


async def test_a_415_comes_before_the_api_key_is_not_checked(make_client: ClientFactory) -> None:
    async with make_client(api_keys=["k"]) as client:
        refused = await client.post("/fit", content=b"x", headers={"Content-Type": "text/plain"})
        assert refused.status_code == 401  # the key first, the type second
        authorized = {"Content-Type": "text/plain", "Authorization": "Bearer k"}
        response = await client.post("/fit", content=b"x", headers=authorized)
    assert response.status_code == 415


# --- Arrow errors and the 501 ---------------------------------------------------------------


async def test_arrow_without_pyarrow_is_a_501_naming_the_extra(
    client: httpx.AsyncClient, no_pyarrow: None
) -> None:
    response = await client.post("/fit", content=b"anything", headers=ARROW)
    assert response.status_code == 501
    assert "pip install 'gd-fit-service[arrow]'" in response.json()["detail"]
    csv = await client.post("/fit", content=b"x,y\n0,1\n1,3\n", headers=CSV)
    assert csv.status_code == 200  # CSV still works, with NumPy


def _arrow_errors() -> Iterator[tuple[str, Any, list[tuple[str, list[Any]]]]]:
    yield "garbage", b"not arrow at all", [("arrow_invalid", ["body"])]
    yield "empty", b"", [("arrow_invalid", ["body"])]
    yield "file format", b"ARROW1\x00\x00rest", [("arrow_invalid", ["body"])]


async def test_arrow_errors(client: httpx.AsyncClient) -> None:
    pa = need_pyarrow()
    cases: list[tuple[bytes, list[tuple[str, list[Any]]]]] = [
        (body, items) for _, body, items in _arrow_errors()
    ]
    x = [0.0, 1.0, 2.0]
    cases += [
        (
            arrow_body({"a": x, "b": x}),
            [("arrow_schema", ["body", "x"]), ("arrow_schema", ["body", "y"])],
        ),
        (arrow_body({"x": ["0", "1", "2"], "y": x}), [("arrow_schema", ["body", "x"])]),
        (
            arrow_body({"x": x, "y": x, "weight": x, "Weights": x}),
            [("arrow_schema", ["body", "Weights"])],
        ),
        (
            arrow_body({"x": x, "y": x, "weight": ["1", "1", "1"]}),
            [("arrow_schema", ["body", "weight"])],
        ),
        (
            arrow_body({"x": x, "y": x, "weight": pa.array([1.0, None, float("nan")])}),
            [("float_type", ["body", "weight", 1])],
        ),
        (
            arrow_body({"x": pa.array([0.0, None, 2.0]), "y": pa.array([None, 1.0, 2.0])}),
            [("float_type", ["body", "x", 1]), ("float_type", ["body", "y", 0])],
        ),
        (
            arrow_body({"x": [0.0, float("nan"), 2.0], "y": [float("inf"), 1.0, 2.0]}),
            [("finite_number", ["body", "x", 1]), ("finite_number", ["body", "y", 0])],
        ),
        (arrow_body({"x": x, "y": x}, compression="zstd"), [("arrow_invalid", ["body"])]),
        (arrow_body({"x": x, "y": x})[:-20], [("arrow_invalid", ["body"])]),
    ]
    for body, items in cases:
        detail = _detail(await client.post("/fit", content=body, headers=ARROW))
        assert [(item["type"], item["loc"]) for item in detail] == items, detail


async def test_a_compressed_arrow_stream_says_so(client: httpx.AsyncClient) -> None:
    need_pyarrow()
    body = arrow_body({"x": [0.0, 1.0], "y": [1.0, 2.0]}, compression="lz4")
    (item,) = _detail(await client.post("/fit", content=body, headers=ARROW))
    assert item["msg"].startswith("the Arrow stream is compressed: send it uncompressed")


# --- the event loop -------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["json", "csv", "arrow"])
async def test_large_bodies_are_parsed_off_the_event_loop(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, encoding: str
) -> None:
    threads: list[int] = []
    parse = body_route.parse_body

    def spy(*args: Any) -> Any:
        threads.append(threading.get_ident())
        return parse(*args)

    monkeypatch.setattr(body_route, "parse_body", spy)
    loop_thread = threading.get_ident()
    for n in (4, 20_000):  # inline, then over INLINE_BODY_BYTES
        x, y = points(n)
        if encoding == "json":
            body, headers = json_body(x, y), JSON
        elif encoding == "csv":
            body, headers = csv_body(x, y), CSV
        else:
            body, headers = arrow_body({"x": x, "y": y}), ARROW
        assert (len(body) > body_route.INLINE_BODY_BYTES) == (n > 4)
        response = (
            await client.post("/fit?epochs=10", content=body, headers=headers)
            if (encoding != "json")
            else await client.post("/fit", content=body, headers=headers)
        )
        assert response.status_code == 200, response.text
    assert threads[0] == loop_thread
    assert threads[1] != loop_thread


def test_threaded_csv_reads_the_same_points(monkeypatch: pytest.MonkeyPatch) -> None:
    """pyarrow's threads read a large body (here 3 MiB, three blocks) as one thread does."""
    from service.bodies import csv_body as csv_module

    need_pyarrow()

    x, y = points(80_000)
    body = csv_body(x, y)
    assert len(body) > 2 * 1024 * 1024
    monkeypatch.setattr(csv_module, "THREADED_CSV_BYTES", len(body) + 1)
    alone = read_csv(body)
    monkeypatch.setattr(csv_module, "THREADED_CSV_BYTES", 0)
    threaded = read_csv(body)
    assert np.array_equal(threaded.x, alone.x) and np.array_equal(threaded.y, alone.y)
    assert np.array_equal(alone.x, x) and np.array_equal(alone.y, y)
