"""bo_loop never JIT-compiles BoTorch's fused qLogNEHVI kernel (see `outcome_acquisition`).

BoTorch 0.18 compiles it the first time a process builds a qLogNEHVI, behind a lock file in
``$TORCH_EXTENSIONS_DIR/logei_fused_ext``; a process killed while compiling leaves the lock, and
torch then waits for it forever. The test leaves such a lock and asks: with the kernel's loading
on, the ask below would never return.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import bo_loop as bl
from botorch.acquisition.multi_objective import logei

campaign = bl.Campaign.create(
    "hvi", parameters=[bl.Real("x", 0.0, 1.0), bl.Real("y", 0.0, 1.0)],
    objectives=[bl.Objective("a", goal="minimize"), bl.Objective("b", goal="minimize")],
    storage="sqlite://", seed=0,
)
for _ in range(6):  # five design points, then one qLogNEHVI proposal
    (trial,) = campaign.ask(1)
    x, y = trial.params["x"], trial.params["y"]
    campaign.tell(trial.number, {"a": (x - 0.3) ** 2 + y, "b": (x - 0.7) ** 2 + 1 - y})
assert campaign.trials()[-1].provenance["acquisition"] == "qlognehvi"
print("fused kernel loaded:", logei._C is not None)
"""


def test_a_multi_objective_ask_neither_compiles_nor_waits_on_a_stale_compile_lock(
    tmp_path: Path,
) -> None:
    stale = tmp_path / "logei_fused_ext"
    stale.mkdir()
    (stale / "lock").touch()  # left by a process killed while compiling
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True, text=True, timeout=300, check=False,
        env={"TORCH_EXTENSIONS_DIR": str(tmp_path), "PATH": "/usr/bin:/bin",
             "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "fused kernel loaded: False" in done.stdout
    assert sorted(p.name for p in stale.iterdir()) == ["lock"]  # nothing built
