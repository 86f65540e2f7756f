"""Every CLI test reads rich's output at a fixed width of 200 columns.

The tests pass ``COLUMNS=200`` to Click's runner, but under pytest-xdist some workers were seen to
wrap at 80 columns anyway (the width rich derives when stdout is not a terminal), which split the
lines the asserts look for. Pinning the consoles' width keeps the assertions about content.
"""

from __future__ import annotations

import pytest

from bo_loop.cli import common


@pytest.fixture(autouse=True)
def wide_consoles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common.out, "_width", 200)
    monkeypatch.setattr(common.err, "_width", 200)
