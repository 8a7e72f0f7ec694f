"""The routes: thin handlers that hand a validated body to `service.operations`.

`fit.router` holds the fit routes (``/fit``, ``/fit/batch``, ``/fit/plot``) with their shared
tag, authentication and error answers; `ops.router` the operations routes (health, readiness,
info, metrics). The playground's page is in `service.ui`.
"""
