"""SCENEWEB_LOG_FORMAT=json: one JSON object per line, for log shippers that parse nothing else."""

from __future__ import annotations

import json
import logging


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, request_id (from `requestid.RequestIdFilter`) and any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)
