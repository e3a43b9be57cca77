"""Logging for `modelyard serve`: readable text by default, or one JSON object a line
(MODELYARD_LOG_FORMAT=json) for log collectors. A record's route id, when it has one, is a
field of its own. Nothing logs prompts or keys."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

FIELDS = ("route_id",)  # extras copied from a record into its JSON line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def log_config(level: str, fmt: str) -> dict[str, Any]:
    """A logging.dictConfig for the server's loggers (uvicorn's or Granian's) and ours, in the
    chosen format."""
    formatter = (
        {"()": JsonFormatter}
        if fmt == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    handler = {"class": "logging.StreamHandler", "formatter": "main", "stream": "ext://sys.stderr"}
    loggers = (
        "uvicorn",
        "uvicorn.error",
        "uvicorn.access",
        "_granian",
        "granian.access",
        "modelyard",
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"main": formatter},
        "handlers": {"main": handler},
        "loggers": {
            name: {"handlers": ["main"], "level": level.upper(), "propagate": False}
            for name in loggers
        },
    }
