"""Running ``fanout`` in this process for the CLI's tests: its exit code and what it printed."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, final

import pytest

from service.cli import main

__all__ = ["Outcome", "assert_one_line_error", "environment", "fanout", "one_json_line"]


@final
@dataclass(frozen=True, slots=True)
class Outcome:
    code: int
    out: str
    err: str

    def json(self) -> dict[str, Any]:
        assert self.out.count("\n") == 1, self.out
        summary: dict[str, Any] = json.loads(self.out)
        return summary


def fanout(capsys: pytest.CaptureFixture[str], *argv: str) -> Outcome:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    out, err = capsys.readouterr()
    code = exited.value.code
    assert isinstance(code, int), code
    return Outcome(code, out, err)


def assert_one_line_error(outcome: Outcome, code: int, fragment: str) -> None:
    assert outcome.code == code
    assert outcome.out == ""
    assert outcome.err.startswith("fanout: error: "), outcome.err
    assert outcome.err.count("\n") == 1, outcome.err
    assert "Traceback" not in outcome.err
    assert fragment in outcome.err


def one_json_line(text: str) -> dict[str, Any]:
    assert text.count("\n") == 1, text
    summary: dict[str, Any] = json.loads(text)
    return summary


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without FANOUT_* variables, and ``extra``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FANOUT_")}
    return environ | dict(extra or {})
