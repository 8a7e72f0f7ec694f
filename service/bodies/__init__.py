"""Request bodies: the one place where a body becomes a validated wire model.

`BodyRoute` (`service.bodies.route`) is the route class of the fit routes: it checks the API
key, reads the body's content type, parses the body and validates it against the model with
the server's limits, and hands FastAPI the model. The encodings:

- `service.bodies.json_body`: JSON (orjson, and a fast path for large x and y lists);
- `service.bodies.csv_body`: CSV tables, hyperparameters in the query string;
- `service.bodies.arrow_body`: Arrow IPC streams, hyperparameters in the query string;
- `service.bodies.query`: the hyperparameters of the query string, as a body dict;
- `service.bodies.points`: the request of points in float64 arrays, with the model's rules,
  shared by the JSON fast path and the tables;
- `service.bodies.media`: the accepted content types and the 415 answer.

The same float64 data gives the same request, and so the same answer bit for bit, whichever
encoding carried it; every rule and every message comes from the one model (`FitRequest`).
"""

from service.bodies.json_body import fast_fit_request, validate_body
from service.bodies.media import ARROW, CSV, JSON, MEDIA_TYPES
from service.bodies.query import hyperparameter_names
from service.bodies.route import INLINE_BODY_BYTES, BodyRoute, parse_body

__all__ = [
    "ARROW",
    "CSV",
    "INLINE_BODY_BYTES",
    "JSON",
    "MEDIA_TYPES",
    "BodyRoute",
    "fast_fit_request",
    "hyperparameter_names",
    "parse_body",
    "validate_body",
]
