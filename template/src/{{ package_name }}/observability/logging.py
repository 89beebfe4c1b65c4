"""Structured JSON logs through structlog and the standard library.

Every record is one JSON object on one line: CR and LF inside values are escaped by the encoder, so input cannot
forge a log line. Security events go to the `audit` logger (see `audit.py`).
"""

import logging
import sys

import structlog

SHARED_PROCESSORS: list[structlog.typing.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
]


def configure_logging(level: str = "INFO") -> None:
    """Route structlog and standard-library records to stdout as JSON, once per process."""
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
    if not any(getattr(handler, "_structured", False) for handler in root.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                processors=[
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.JSONRenderer(sort_keys=True),
                ],
                foreign_pre_chain=SHARED_PROCESSORS,
            )
        )
        handler._structured = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level.upper())
