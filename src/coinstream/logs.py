"""structlog set-up: key=value for people, JSON for clusters; secrets never reach it."""

from __future__ import annotations

import logging
import sys

import structlog

from coinstream.settings import get_settings


def configure_logging(level: str | None = None, json: bool | None = None) -> None:
    """Defaults: COINSTREAM_LOG_LEVEL and COINSTREAM_LOG_FORMAT (json or console)."""
    settings = get_settings()
    level = level or settings.log_level
    json = settings.log_format == "json" if json is None else json
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    # kafka-python narrates every connection at INFO; its warnings and errors still show.
    logging.getLogger("kafka").setLevel(max(logging.WARNING, logging.getLevelNamesMapping()[level.upper()]))
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=lambda *_: structlog.PrintLogger(file=_Stderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )


class _Stderr:
    """Whatever sys.stderr is at write time (pytest and CliRunner swap it; a captured one goes stale)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    return structlog.get_logger(name)
