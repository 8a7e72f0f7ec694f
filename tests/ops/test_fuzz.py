"""Property-based fuzzing of the whole API from its own OpenAPI document (schemathesis, in
process over ASGI): bounded and derandomized, so every run sends the same requests.

No answer may be a 5xx, and every answer must conform to the document: a documented status
code and content type, headers and a body matching the documented schema. Arrow IPC bodies,
which schemathesis cannot make from a schema, are real streams of generated columns, or junk.
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation.case import Case

from service.app import create_app
from service.settings import Settings

ARROW = "application/vnd.apache.arrow.stream"


def arrow_stream(columns: dict[str, list[float]]) -> bytes:
    """An Arrow IPC stream of one record batch with these columns."""
    import pyarrow as pa

    table = pa.table(columns)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def arrow_bodies() -> st.SearchStrategy[bytes]:
    """Streams of x and y columns (any float64, NaN and infinities too), or junk bytes."""
    junk = st.binary(max_size=64)
    try:
        import pyarrow  # noqa: F401
    except ImportError:  # pragma: no cover - the arrow extra is not installed
        return junk
    pairs = st.lists(st.tuples(st.floats(), st.floats()), max_size=12)
    streams = pairs.map(lambda xy: arrow_stream({"x": [x for x, _ in xy], "y": [y for _, y in xy]}))
    return st.one_of(streams, junk)


schemathesis.openapi.media_type(ARROW, arrow_bodies())

# Small limits keep each generated fit cheap; answers over them are documented 422s.
APP = create_app(Settings(max_epochs=100_000, max_history_points=500, max_points=10_000))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@schema.parametrize()
@settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case: Case) -> None:
    case.call_and_validate(checks=CHECKS)


@pytest.mark.anyio
async def test_junk_arrow_body_is_a_422(client: httpx.AsyncClient) -> None:
    for junk in (b"\x00\x00\x00\xff", b"junk", b""):
        response = await client.post("/fit", content=junk, headers={"Content-Type": ARROW})
        assert response.status_code == 422, (junk, response.text)
        assert response.json()["detail"][0]["type"] == "arrow_invalid"
