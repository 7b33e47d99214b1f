"""`configure_logger`, Datafast 0.0.36's logging set-up, over the standard `logging` module that datafast logs
with (the `datafast` logger).

0.0.36 logged through loguru and configured it when imported; datafast installs no handler until asked (the
progress line shows a run's progress, warnings reach stderr through Python's last-resort handler). Calling
`configure_logger()` gives what 0.0.36 gave: lines of the `datafast` logger from `level` up on stderr, in
0.0.36's layout, optionally also in a file (rotated at 10 MB) or as JSON. Calling it again replaces what an
earlier call set up; other handlers of the `datafast` logger are left alone.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import re
import string
import sys
from datetime import datetime
from typing import Any, TextIO

LOGGER_NAME = "datafast"
# The layout of 0.0.36's lines, in loguru's template syntax (which `format_string` also takes).
DEFAULT_FORMAT = (
    "<green>{time:YYYY-MM-DD HH:mm:ss}</green> | <level>{level: <8}</level> | "
    "<cyan>{name}</cyan>:<cyan>{function}</cyan> - <level>{message}</level>"
)
ROTATE_BYTES = 10 * 1024 * 1024
ROTATED_FILES_KEPT = 5

# loguru's level names; SUCCESS sits between INFO and WARNING there, TRACE below DEBUG.
LEVELS = {
    "TRACE": logging.DEBUG,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "SUCCESS": logging.INFO,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "CRITICAL": logging.CRITICAL,
}

# What a `{field}` of a loguru template shows, from a log record.
_FIELDS = {
    "message": lambda r: r.getMessage(),
    "level": lambda r: r.levelname,
    "name": lambda r: r.name,
    "function": lambda r: r.funcName,
    "line": lambda r: r.lineno,
    "module": lambda r: r.module,
    "file": lambda r: r.filename,
    "path": lambda r: r.pathname,
    "process": lambda r: r.process,
    "thread": lambda r: r.thread,
    "elapsed": lambda r: r.relativeCreated / 1000,
}
_TIME_TOKENS = re.compile(r"YYYY|YY|MM|DD|HH|hh|mm|ss|SSS|A|ZZ")
_TAG = re.compile(r"</?([a-z][a-z-]*)>")
_COLORS = {
    "black": "30", "red": "31", "green": "32", "yellow": "33", "blue": "34", "magenta": "35", "cyan": "36",
    "white": "37", "bold": "1", "b": "1", "dim": "2", "italic": "3", "i": "3", "underline": "4", "u": "4",
}  # fmt: skip
_LEVEL_COLORS = {"DEBUG": "34;1", "INFO": "1", "WARNING": "33;1", "ERROR": "31;1", "CRITICAL": "41;1"}
_RESET = "\x1b[0m"


def _format_time(moment: datetime, spec: str) -> str:
    """`moment` in loguru's time tokens (`YYYY-MM-DD HH:mm:ss.SSS`); ISO 8601 without a spec."""
    if not spec:
        return moment.isoformat(timespec="milliseconds")
    values = {
        "YYYY": f"{moment.year:04d}",
        "YY": f"{moment.year % 100:02d}",
        "MM": f"{moment.month:02d}",
        "DD": f"{moment.day:02d}",
        "HH": f"{moment.hour:02d}",
        "hh": f"{(moment.hour - 1) % 12 + 1:02d}",
        "mm": f"{moment.minute:02d}",
        "ss": f"{moment.second:02d}",
        "SSS": f"{moment.microsecond // 1000:03d}",
        "A": "AM" if moment.hour < 12 else "PM",
        "ZZ": moment.strftime("%z"),
    }
    return _TIME_TOKENS.sub(lambda m: values[m.group(0)], spec)


class TemplateFormatter(logging.Formatter):
    """Formats records with a loguru-style template: `{time:FORMAT}`, `{level: <8}`, `{name}`,
    `{function}`, `{line}`, `{module}`, `{file}`, `{message}`, ... and colour tags (`<green>...</green>`,
    `<level>`), which become ANSI colours when `colorize` is set and are dropped otherwise. A field that does
    not exist is a ValueError when the formatter is made."""

    def __init__(self, template: str, colorize: bool = False) -> None:
        super().__init__()
        self.colorize = colorize
        self.parts: list[tuple[str, str | None, str]] = []
        for literal, field, spec, conversion in string.Formatter().parse(template):
            if field is not None and field != "time" and field not in _FIELDS:
                known = ", ".join(["time", *_FIELDS])
                raise ValueError(f"format_string uses {{{field}}}, which is not a log field; use: {known}")
            if conversion:
                raise ValueError(f"format_string: {{{field}!{conversion}}} is not supported; write {{{field}}}")
            self.parts.append((literal, field, spec or ""))

    def format(self, record: logging.LogRecord) -> str:
        out = []
        level_color = _LEVEL_COLORS.get(record.levelname, "1")
        for literal, field, spec in self.parts:
            out.append(_TAG.sub(lambda m: self._tag(m, level_color), literal))
            if field == "time":
                out.append(_format_time(datetime.fromtimestamp(record.created).astimezone(), spec))
            elif field is not None:
                out.append(format(_FIELDS[field](record), spec))
        line = "".join(out)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line

    def _tag(self, match: re.Match[str], level_color: str) -> str:
        if not self.colorize:
            return ""
        if match.group(0).startswith("</"):
            return _RESET
        name = match.group(1)
        code = level_color if name in ("level", "lvl") else _COLORS.get(name)
        return f"\x1b[{code}m" if code else ""


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger name, function, line, message (and the exception)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "name": record.name,
            "function": record.funcName,
            "line": record.lineno,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _level_number(level: str | int) -> int:
    if isinstance(level, int):
        return level
    number = LEVELS.get(level.upper())
    if number is None:
        raise ValueError(f"level {level!r} is not a log level; use one of: {', '.join(LEVELS)}")
    return number


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def configure_logger(
    level: str | int = "INFO",
    log_file: str | None = None,
    format_string: str | None = None,
    colorize: bool = True,
    serialize: bool = False,
) -> logging.Logger:
    """Send datafast's log lines from `level` up (DEBUG, INFO, SUCCESS, WARNING, ERROR, CRITICAL) to stderr
    and, with `log_file`, to that file as well (rotated at 10 MB, 5 old files kept, never coloured).
    `format_string` is a loguru-style template (see `TemplateFormatter`; 0.0.36's layout by default);
    `colorize` colours the terminal's lines; `serialize` writes one JSON object per line instead. Replaces
    what an earlier call set up. Returns the `datafast` logger."""
    number = _level_number(level)
    template = DEFAULT_FORMAT if format_string is None else format_string
    stderr = sys.stderr
    console = logging.StreamHandler(stderr)
    handlers: list[logging.Handler] = [console]
    if serialize:
        console.setFormatter(JsonFormatter())
    else:
        console.setFormatter(TemplateFormatter(template, colorize=colorize and _is_terminal(stderr)))
    if log_file:
        to_file = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=ROTATE_BYTES, backupCount=ROTATED_FILES_KEPT, encoding="utf-8"
        )
        to_file.setFormatter(JsonFormatter() if serialize else TemplateFormatter(template, colorize=False))
        handlers.append(to_file)
    # The new handlers are ready (a bad format or an unwritable file raised above): replace the old ones.
    logger = logging.getLogger(LOGGER_NAME)
    for handler in [h for h in logger.handlers if getattr(h, "_datafast_configured", False)]:
        logger.removeHandler(handler)
        handler.close()
    for handler in handlers:
        handler.setLevel(number)
        handler._datafast_configured = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(number)
    # The lines are written here; the root logger's handlers (logging.basicConfig) would repeat them.
    logger.propagate = False
    return logger


__all__ = ["configure_logger"]
