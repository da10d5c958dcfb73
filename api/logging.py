"""Structured logs: one JSON object per line on stderr, every line of a request with its request id.

What is logged is chosen, not dumped: method, route, status, duration, client name, document size
and digest. Never the document, form fields, headers or API keys — the access log is written by
:mod:`api.middleware` from those fields only, and uvicorn's own access log (which would print the
query string) is switched off.
"""

from __future__ import annotations

import json
import logging
import sys
import warnings
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "LIBRARIES",
    "JsonFormatter",
    "configure_library_logging",
    "configure_logging",
    "silence_library_warnings",
]

#: LogRecord attributes that are plumbing, not content
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


#: libraries that log, at WARNING and with a traceback, what for a verifier is a verdict already in the
#: report (pyHanko's diff analysis, certvalidator's failed paths): their lines are kept, their
#: tracebacks summarised to one "Type: message"
LIBRARIES = ("pyhanko", "pyhanko_certvalidator", "fontTools", "py.warnings")


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ``full_exceptions=False`` shortens a traceback to its last line."""

    def __init__(self, *, full_exceptions: bool = True) -> None:
        super().__init__()
        self.full_exceptions = full_exceptions

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info and self.full_exceptions:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            entry["exception"] = (
                f"{type(error).__name__}: {str(error).splitlines()[0][:300] if str(error) else ''}"
            )
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO") -> None:
    """Route the service's and uvicorn's loggers through the JSON formatter (idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("esign", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True
    configure_library_logging()


def silence_library_warnings() -> None:
    """Drop the one warning a library raises on every start: pyHanko's ``pdf_cms`` imports cryptography's
    DSA types, and cryptography deprecates DSA on that import. It says nothing about a document and
    nothing a user or operator can act on; anything else a library warns about still shows.
    Must run before pyHanko is imported, since the warning is raised once, at import."""
    from cryptography.utils import CryptographyDeprecationWarning

    warnings.filterwarnings(
        "ignore",
        message="DSA is deprecated",
        category=CryptographyDeprecationWarning,
        module=r"pyhanko\.sign\.signers\.pdf_cms",
    )


def configure_library_logging() -> None:
    """The libraries' warnings as JSON lines without tracebacks — also in spawned worker processes,
    which inherit no logging configuration and would otherwise print Python's bare tracebacks."""
    silence_library_warnings()
    logging.captureWarnings(True)  # a library's other warnings, e.g. further DeprecationWarnings
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(full_exceptions=False))
    for name in LIBRARIES:
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(logging.WARNING)
        logger.propagate = False
