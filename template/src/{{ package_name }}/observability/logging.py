"""Structured JSON logs through structlog and the standard library.

Every record is one JSON object on one line, with `time` (UTC), `level`, `logger` and `event`: CR and LF inside
values are escaped by the encoder, so input cannot forge a log line. Security events go to the `audit` logger
(see `audit.py`).

uvicorn configures its own loggers, with plain-text handlers, before it imports the app. `configure_logging`
takes those handlers off again (only uvicorn's own, so a `--log-config` of yours is left alone), and uvicorn's
records reach the same JSON handler as the app's: its start-up and error lines keep their message as `event`;
an access line becomes `http_request` with client, method, path, status and request id, the query string
dropped, so that a token someone put in a URL is not written to the log. With `--workers`, uvicorn's parent
process never imports the app: `--log-config log-config.json` (beside `alembic.ini`) makes its lines JSON too.
"""

import logging
import sys
from typing import Any

import structlog

from .request_id import current_request_id

UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
_ACCESS_ARGS = 5  # uvicorn's access record: client, method, path with query, HTTP version, status

SHARED_PROCESSORS: list[structlog.typing.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
]


def _foreign_fields(_logger: Any, _method: str, event_dict: structlog.typing.EventDict) -> structlog.typing.EventDict:
    """Give a standard-library record (uvicorn's access line above all) fields instead of a preformatted text."""
    args = event_dict.pop("positional_args", ())
    record = event_dict.get("_record")
    if record is not None and record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == _ACCESS_ARGS:
        client, method, path, http_version, status = args
        event_dict.update(
            event="http_request",
            client=client,
            method=method,
            path=str(path).partition("?")[0],
            http_version=http_version,
            status=status,
            request_id=current_request_id(),
        )
    return event_dict


def json_formatter() -> logging.Formatter:
    """The formatter of every line: also what `log-config.json` names, for uvicorn's own processes."""
    return structlog.stdlib.ProcessorFormatter(
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(sort_keys=True),
        ],
        foreign_pre_chain=[*SHARED_PROCESSORS, _foreign_fields],
        pass_foreign_args=True,
    )


def _route_uvicorn_to_root() -> None:
    """Hand uvicorn's records to the root logger's JSON handler instead of uvicorn's own text handlers."""
    try:
        from uvicorn.logging import ColourizedFormatter
    except ImportError:  # not served by uvicorn
        return
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        own = [handler for handler in logger.handlers if isinstance(handler.formatter, ColourizedFormatter)]
        if own:
            for handler in own:
                logger.removeHandler(handler)
            logger.propagate = True


def configure_logging(level: str = "INFO") -> None:
    """Route structlog, the standard library and uvicorn to stdout as JSON, once per process."""
    structlog.configure(
        processors=[
            *SHARED_PROCESSORS,
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    root = logging.getLogger()
    if not any(isinstance(handler.formatter, structlog.stdlib.ProcessorFormatter) for handler in root.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(json_formatter())
        handler._structured = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level.upper())
    _route_uvicorn_to_root()
