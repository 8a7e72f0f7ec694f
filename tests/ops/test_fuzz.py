"""Property-based fuzzing of the whole API from its own OpenAPI document (schemathesis, in
process over ASGI): bounded and derandomized, so every run sends the same requests.

No answer may be a 5xx, and every answer must conform to the document: a documented status
code and content type, headers and a body matching the documented schema.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
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
