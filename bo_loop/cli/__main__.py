"""``python -m bo_loop.cli``: the ``bo-loop`` command."""

from bo_loop.cli.app import main

main()
