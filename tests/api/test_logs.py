"""service.api.logs: key=value lines that split back into their fields."""

from __future__ import annotations

import logging
import shlex

import pytest
from aiohttp.http_exceptions import BadHttpMessage

from service.api.logs import SERVER_LOG, line


def test_plain_values_stay_bare_and_none_is_left_out() -> None:
    text = line("http", method="GET", path="/v1/jobs/abc", status=200, remote=None)
    assert text == "http method=GET path=/v1/jobs/abc status=200"


def test_awkward_values_are_quoted_and_split_back() -> None:
    text = line("bug", error='ValueError("a b=c")', empty="")
    assert shlex.split(text) == ["bug", 'error=ValueError("a b=c")', "empty="]


def test_floats_are_short() -> None:
    assert line("x", took=0.25) == "x took=0.25"


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
