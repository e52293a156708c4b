"""service.api.logs: key=value lines that split back into their fields."""

from __future__ import annotations

import shlex

from service.api.logs import line


def test_plain_values_stay_bare_and_none_is_left_out() -> None:
    text = line("http", method="GET", path="/v1/jobs/abc", status=200, remote=None)
    assert text == "http method=GET path=/v1/jobs/abc status=200"


def test_awkward_values_are_quoted_and_split_back() -> None:
    text = line("bug", error='ValueError("a b=c")', empty="")
    assert shlex.split(text) == ["bug", 'error=ValueError("a b=c")', "empty="]


def test_floats_are_short() -> None:
    assert line("x", took=0.25) == "x took=0.25"
