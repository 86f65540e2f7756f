"""Round files and campaign specs as a library: writing a round for the rig, reading it back,
checking it row by row against the campaign (`tell`), and reading YAML/TOML specs (`spec`).
No Click here: the ``bo-loop`` command (`bo_loop.cli`) prints what these find.
"""
