"""Structured single-line logs: the access log and the API's own, ``key=value`` with a request id.

A request makes one access line. A handler that submits, cancels or runs a job names it on
that line (``note_job``), rather than in a line of its own: the job's own lines (started, and
ended with its status, from ``service.jobs``) say what becomes of it.

Nothing secret is ever a field here: no password, no ``Authorization`` header, no query string
values beyond the path, no request or response body. Values with spaces, quotes or ``=`` are
quoted so every line splits back into its fields. aiohttp's own server logger is replaced too
(``SERVER_LOG``): a request it cannot parse is one ``unparsable`` line, not a traceback that
quotes the request's bytes.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any, Final, TextIO, final

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError

from service.api.tracing import request_id
from service.jobs.model import Job

__all__ = [
    "ACCESS_LOG",
    "API_LOG",
    "JOB_ID",
    "SERVER_LOG",
    "AccessLog",
    "configure_logging",
    "escape_controls",
    "line",
    "note_job",
]

ACCESS_LOG: Final = logging.getLogger("fanout.access")
API_LOG: Final = logging.getLogger("fanout.api")
SERVER_LOG: Final = logging.getLogger("fanout.server")
"""aiohttp's own logger, replaced: give it to ``web.AppRunner(app, logger=SERVER_LOG)``."""
JOB_ID: Final = web.RequestKey("fanout.job_id", str)
"""The job a request submitted, cancelled or ran, for its access line."""

_PLAIN: Final = re.compile(r"[A-Za-z0-9._:/@+,-]*")
# What a terminal or a log reader could take as other than text: C0 and C1 controls and DEL
# (ESC starts a sequence that retitles the operator's terminal), Unicode's line and paragraph
# separators, and the lone surrogates that undecodable bytes become.
_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_QUOTED: Final = re.compile('[\\\\"\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]')
_NAMED: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\", '"': '\\"'}


def configure_logging(stream: TextIO) -> None:
    """The daemon's log: INFO and up to ``stream``, ``TIME LEVEL message`` a line.

    No line shows the thread, the process or the caller's source line, so logging is told not
    to look them up for every record (the logging HOWTO's "Optimization" section), and the
    time's date and second are formatted once a second: together a few microseconds of each
    request's access line, a few per cent of the submissions a second.
    """
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])


def line(event: str, **fields: object) -> str:
    """``event key=value ...``; None values are left out."""
    parts = [event]
    parts.extend(f"{key}={_value(value)}" for key, value in fields.items() if value is not None)
    return " ".join(parts)


def note_job(request: web.Request, job: Job) -> None:
    """Name ``job`` on the request's access line."""
    request[JOB_ID] = job.id


def _value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".")
    text = str(value)
    if text and _PLAIN.fullmatch(text):
        return text
    return f'"{_QUOTED.sub(_escape, text)}"'


def escape_controls(text: str) -> str:
    """``text`` with every control character written out (``\\n``, ``\\x1b``, ``\\u2028``)."""
    return _CONTROL.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if (named := _NAMED.get(char)) is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


@final
class AccessLog(AbstractAccessLogger):
    """aiohttp's access logger, replaced: one ``http`` line per request, with its request id.

    Give it to ``web.AppRunner(app, access_log_class=AccessLog)``.
    """

    __slots__ = ()

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            line(
                "http",
                request_id=request_id(request),
                method=request.method,
                path=request.path,
                status=response.status,
                job=request.get(JOB_ID),
                bytes_sent=response.body_length,
                duration_s=round(time, 6),
                remote=request.remote,
            )
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


@final
class _Formatter(logging.Formatter):
    """``logging.Formatter``'s times (``2026-11-25 03:04:05,678``), the part before the
    milliseconds made once a second. Records are formatted under the handler's lock."""

    def __init__(self, fmt: str) -> None:
        super().__init__(fmt)
        self._second = -1
        self._stamp = ""

    def formatMessage(self, record: logging.LogRecord) -> str:
        # Every line, whatever made its message (a job's error, an exception's text), is one
        # line of plain text: a log shown on a terminal cannot be made to drive it.
        return escape_controls(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:
        # A traceback keeps its line breaks; nothing else of control passes.
        return "\n".join(escape_controls(part) for part in super().formatException(ei).split("\n"))

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if second != self._second:
            self._stamp = time.strftime(self.default_time_format, self.converter(second))
            self._second = second
        return f"{self._stamp},{int(record.msecs):03d}"


@final
class _Unparsable(logging.Filter):
    """aiohttp logs a request it cannot parse with a traceback whose message quotes the
    offending line, verbatim: that line may be ``Authorization: Bearer <token>`` with a stray
    control character, or a password header. Such a request is the client's mistake (it got
    400), so it becomes one INFO line naming the kind of mistake and nothing it sent."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.msg = line("unparsable", status=error.code, error=type(error).__name__)
            record.args = ()
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
        return True


SERVER_LOG.addFilter(_Unparsable())
