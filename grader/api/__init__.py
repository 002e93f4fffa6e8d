"""The HTTP API (`grader serve`): a thin shell over the pipeline, like the CLI.

    request --GuardMiddleware--> body size limit; unexpected errors become a bare 500
            --bearer auth--> 401 when GRADER_API_KEY is set and the token is missing or wrong
            --pydantic--> 422 naming the field
            --Grader (pipeline)--> GradeResult, the same model the CLI prints

Design notes:
- Errors are translated in one place: every GraderError (the pipeline's, and the API's own
  `UnauthorizedError`, `TooLargeError`) goes through `http.install_error_handlers`. All error bodies share
  one shape, `{"error": {"type", "message"}}`, and never carry a stack trace or the answer text
  (pydantic's echo of the invalid input is dropped; unexpected errors are logged by class name only,
  with the traceback at DEBUG level).
- Only the banks the server was configured with are served (the bundled banks, plus the bank named
  by `Settings.bank`): an HTTP client names a bank, it never passes a path to the server's disk.
- The modes a client may ask for are part of the schema: the offline modes, plus `llm`/`hybrid`
  when the judge is installed, narrowed by `GRADER_API_MODES`. A public server can so be kept
  offline (no model spend) and the OpenAPI document says what is accepted.
- No `from __future__ import annotations` here: the request models are built per app (their
  `mode` is narrowed to the served modes), and FastAPI must resolve the handlers' annotations
  to those local classes.
- Grading is synchronous in the pipeline (fuzzy 1-3 ms for 500 characters, up to the CPU budget
  for a 20 000-character answer). A short bank grade runs on the event loop under a 10 ms budget
  (cheaper than the hop to a thread); anything longer, or over that budget, in the thread pool, so
  no grade stalls the event loop for long (`app.graded_inline`). Such a grade's request is answered
  before FastAPI's routing and validation (`http.FastRoute`, `app.fast_grade`), with the route's
  bytes; anything else, errors included, reaches the route. `grader serve` warms every served bank
  question up as it starts and freezes that heap out of the garbage collector's reach (`app.served_app`).
"""

from .app import BankRegistry, create_app
from .config import ApiConfig
from .http import GuardMiddleware, error_body

__all__ = ["ApiConfig", "BankRegistry", "GuardMiddleware", "create_app", "error_body"]
