"""service.api.logs: key=value lines that split back into their fields."""

from __future__ import annotations

import logging
import re
import shlex
import subprocess
import sys

import pytest
from aiohttp.http_exceptions import BadHttpMessage

from service.api.logs import SERVER_LOG, _Formatter, line


def test_plain_values_stay_bare_and_none_is_left_out() -> None:
    text = line("http", method="GET", path="/v1/jobs/abc", status=200, remote=None)
    assert text == "http method=GET path=/v1/jobs/abc status=200"


def test_awkward_values_are_quoted_and_split_back() -> None:
    text = line("bug", error='ValueError("a b=c")', empty="")
    assert shlex.split(text) == ["bug", 'error=ValueError("a b=c")', "empty="]


def test_floats_are_short() -> None:
    assert line("x", took=0.25) == "x took=0.25"


def test_the_daemons_times_read_as_loggings_own() -> None:
    layout = "%(asctime)s %(levelname)s %(message)s"
    ours, standard = _Formatter(layout), logging.Formatter(layout)
    for created in (1_764_043_200.0, 1_764_043_200.999, 1_764_043_201.25, 1_764_043_200.5):
        record = logging.LogRecord("fanout", logging.INFO, __file__, 1, "hi", (), None)
        record.created, record.msecs = created, int((created - int(created)) * 1000) + 0.0
        assert ours.format(record) == standard.format(record)
    assert ours.formatTime(record, "%H") == standard.formatTime(record, "%H")


def test_the_daemons_log_is_one_timed_line_a_record() -> None:
    program = (
        "import logging, sys; from service.api.logs import configure_logging; "
        "configure_logging(sys.stdout); logging.getLogger('fanout.api').info('ready port=1'); "
        "logging.getLogger('fanout.api').debug('not shown')"
    )
    shown = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO ready port=1\n", shown)


def test_a_request_aiohttp_cannot_parse_is_one_line_quoting_nothing_it_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sent = "Invalid header value char:\n  b'Authorization: Bearer s3cret\\x01'"
    with caplog.at_level(logging.DEBUG, logger=SERVER_LOG.name):
        try:
            raise BadHttpMessage(sent)
        except BadHttpMessage:
            SERVER_LOG.exception("Error handling request from %s", "127.0.0.1")
        SERVER_LOG.error("a bug of the server itself")
    unparsable, bug = caplog.records
    assert unparsable.getMessage() == "unparsable status=400 error=BadHttpMessage"
    assert (unparsable.levelno, unparsable.exc_info) == (logging.INFO, None)
    assert "s3cret" not in caplog.text
    assert (bug.levelno, bug.getMessage()) == (logging.ERROR, "a bug of the server itself")
