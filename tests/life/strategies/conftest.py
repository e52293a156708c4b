"""The strategy contract lives in a helper module: pytest rewrites its asserts too."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.life.strategies._contract")
