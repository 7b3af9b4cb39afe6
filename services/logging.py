"""Structured logs (DESIGN §3): JSON in production, readable console output in dev.

Logs carry ids, never payloads or personal data: this is children's data. As a safety net
``redact_personal_data`` masks any value whose key looks personal, so a slip such as
``log.info("x", name=...)`` cannot leak. Standard-library loggers (alembic, uvicorn,
aiokafka) go through the same processors and renderer.

Nothing happens at import; ``configure_logging`` is called once by each entry point, and a
second call replaces the first configuration instead of stacking handlers.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from services.settings import Settings

REDACTED = "[redacted]"

# Keys whose values are personal data. A key matches when it equals one of these or ends with
# "_<one of these>" after camelCase is split, so "guardian_name" and "civicNo" match too.
PERSONAL_KEYS = (
    "personnummer",
    "pnr",
    "civic_no",
    "name",
    "given_name",
    "family_name",
    "address",
    "email",
    "phone",
    "sealed",
    "payload",
    "plaintext",
    "personal",
    "comment",
)

HANDLER_NAME = "kronobarn"
CHATTY_LIBRARIES = ("aiokafka", "alembic", "faust", "fontTools", "httpx", "mail.log", "mode", "uvicorn.access")
# WeasyPrint warns about the screen's CSS it does not read (media queries for narrow screens) each
# time it draws the printable plan: only its errors are news.
QUIET_LIBRARIES = ("weasyprint",)
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def configure_logging(settings: Settings, stream: TextIO | None = None) -> None:
    """Route structlog and stdlib logging to one handler on ``stream`` (default stderr)."""
    stream = stream if stream is not None else sys.stderr
    shared = _shared_processors()
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.contextvars.merge_contextvars,
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached, so a later configure_logging call also reaches loggers already in use.
        cache_logger_on_first_use=False,
    )
    _install_handler(_handler(stream, shared, _renderer(settings, stream)), settings.log_level)


def redact_personal_data(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: replace values under personal-looking keys, nested ones too."""
    return _redact_mapping(event_dict)


def looks_personal(key: str) -> bool:
    words = _CAMEL_BOUNDARY.sub("_", key).lower().replace("-", "_")
    return any(words == k or words.endswith("_" + k) for k in PERSONAL_KEYS)


def _redact_mapping(mapping: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in mapping.items():
        if key == "event":  # the message itself; never a key a caller fills with data
            continue
        mapping[key] = REDACTED if looks_personal(str(key)) else _redact_value(value)
    return mapping


def _redact_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return _redact_mapping(dict(value))
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(item) for item in value)
    return value


def _shared_processors() -> list[Processor]:
    return [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_personal_data,
    ]


def wants_json(settings: Settings) -> bool:
    if settings.log_format == "auto":
        return settings.env == "production"
    return settings.log_format == "json"


def _renderer(settings: Settings, stream: TextIO) -> list[Processor]:
    if wants_json(settings):
        return [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    # Plain tracebacks: rich ones print local variables, which may hold personal data.
    return [
        structlog.dev.ConsoleRenderer(
            colors=_is_tty(stream), exception_formatter=structlog.dev.plain_traceback
        )
    ]


def _handler(stream: TextIO, shared: list[Processor], renderer: list[Processor]) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
        )
    )
    return handler


def _install_handler(handler: logging.Handler, level: str) -> None:
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == HANDLER_NAME:
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # Libraries narrate connection and migration steps at INFO; keep their warnings only.
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.ERROR, logging.getLevelName(level)))


def _is_tty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
