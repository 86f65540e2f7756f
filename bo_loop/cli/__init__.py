"""The ``bo-loop`` command: campaigns from the shell, rounds as CSV/XLSX files for the rig.

A thin layer over :class:`bo_loop.Campaign`, one module per job: `app` (the group, ``init``,
``list``, ``db``), `rounds` (``ask``, ``pending``, ``tell``, ``add``), `results` (``status``,
``best``, ``recommend``, ``export``, ``plot``) and `audit` (``correct``, ``retract``,
``history``, ``abandon``). Exit codes: 0 success, 1 a user error (any ``BoLoopError``: bad spec,
bad file, unknown campaign; the message goes to stderr, never a traceback), 2 a usage error
(Click's own).

Storage: ``--storage`` (before or after the command name), else ``$BO_LOOP_STORAGE``, else
``sqlite:///campaigns.db`` in the current folder; ``init`` also reads ``storage`` from the spec,
after the flag and the environment variable.
"""

from __future__ import annotations

from bo_loop.cli.app import cli, main

__all__ = ["cli", "main"]
