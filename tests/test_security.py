"""Security (issue 7): no code from data, names that look like SQL are only names, read-only files.

- The package never unpickles, evals or execs anything (checked on its source with ``ast``).
- Campaign, parameter, choice and objective names with quotes, semicolons, SQL keywords and
  unicode are stored and read back as they are, on SQLite and PostgreSQL.
- A read-only database can be opened and read; writing to it raises a StorageError that says so.
"""

from __future__ import annotations

import ast
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import bo_loop as bl
from bo_loop.storage import dispose

PACKAGE = Path(bl.__file__).parent

#: Modules whose only purpose is (de)serialising Python objects, which runs code from the data.
FORBIDDEN_MODULES = {
    "pickle",
    "cPickle",
    "_pickle",
    "dill",
    "cloudpickle",
    "marshal",
    "shelve",
    "joblib",
}
#: Builtins that run code given as data.
FORBIDDEN_CALLS = {"eval", "exec", "__import__"}
#: Library loaders that unpickle under the hood.
FORBIDDEN_ATTRIBUTES = {
    ("torch", "load"),
    ("pd", "read_pickle"),
    ("pandas", "read_pickle"),
    ("yaml", "unsafe_load"),
}


def findings(source: str, filename: str = "<source>") -> list[str]:
    """Every use of pickle, eval, exec and pickle-backed loaders in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            found += [
                f"{where} imports {a.name}"
                for a in node.names
                if a.name.split(".")[0] in FORBIDDEN_MODULES
            ]
        elif (
            isinstance(node, ast.ImportFrom)
            and (node.module or "").split(".")[0] in FORBIDDEN_MODULES
        ):
            found.append(f"{where} imports from {node.module}")
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in FORBIDDEN_CALLS:
                found.append(f"{where} calls {func.id}()")
            elif isinstance(func, ast.Attribute):
                owner = func.value.id if isinstance(func.value, ast.Name) else None
                # model.eval() is torch's switch to evaluation mode; builtins.eval() is the builtin.
                if (owner == "builtins" and func.attr in FORBIDDEN_CALLS) or (
                    owner,
                    func.attr,
                ) in FORBIDDEN_ATTRIBUTES:
                    found.append(f"{where} calls {owner}.{func.attr}()")
                if (
                    func.attr == "load"
                    and owner == "yaml"
                    and not any(k.arg == "Loader" for k in node.keywords)
                ):
                    found.append(f"{where} calls yaml.load() without a safe Loader")
                if any(
                    k.arg == "allow_pickle"
                    and not (isinstance(k.value, ast.Constant) and k.value.value is False)
                    for k in node.keywords
                ):
                    found.append(f"{where} allows pickle in {func.attr}()")
    return found


def test_the_package_never_runs_code_from_data():
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) > 10  # the scan really looks at the package
    problems = [
        p
        for path in sources
        for p in findings(path.read_text(), str(path.relative_to(PACKAGE.parent)))
    ]
    assert problems == []


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("import pickle", "imports pickle"),
        ("import cloudpickle as cp", "imports cloudpickle"),
        ("from pickle import loads", "imports from pickle"),
        ("from marshal import loads", "imports from marshal"),
        ("eval('1 + 1')", "calls eval()"),
        ("exec(code)", "calls exec()"),
        ("builtins.eval(text)", "calls builtins.eval()"),
        ("__import__('os')", "calls __import__()"),
        ("torch.load(path)", "calls torch.load()"),
        ("pd.read_pickle(path)", "calls pd.read_pickle()"),
        ("yaml.load(text)", "yaml.load() without a safe Loader"),
        ("yaml.unsafe_load(text)", "calls yaml.unsafe_load()"),
        ("np.load(path, allow_pickle=True)", "allows pickle in load()"),
    ],
)
def test_the_scan_finds_what_it_forbids(snippet, expected):
    (found,) = findings(snippet)
    assert expected in found


def test_the_scan_lets_safe_code_pass():
    safe = [
        "import json",
        "json.loads(text)",
        "yaml.safe_load(text)",
        "yaml.load(t, Loader=yaml.SafeLoader)",
        "np.load(p, allow_pickle=False)",
        "model.eval()",  # torch: evaluation mode, not the builtin
    ]
    assert findings("\n".join(safe)) == []


# -- names that look like SQL ------------------------------------------------------------------

NASTY = [
    "Robert'); DROP TABLE trials;--",
    'double "quoted" name',
    "semi;colon; DELETE FROM campaigns",
    "SELECT",
    "%s %(name)s ? :param $1",
    "back\\slash and a space inside",  # tabs and newlines are refused at create (tested elsewhere)
    "Ausbeute – Rührkessel 🧪 反応",
    "x' OR '1'='1",
]


def test_names_that_look_like_sql_round_trip(storage_url):
    parameters = [
        bl.Real(NASTY[0], 0.0, 1.0),
        bl.Integer(NASTY[1], 1, 5),
        bl.Categorical(NASTY[2], [NASTY[3], NASTY[6], NASTY[7]]),
        bl.Real(NASTY[6], 0.1, 10.0, log=True),
    ]
    objective = bl.Objective(NASTY[4], goal="minimize")
    for i, name in enumerate(NASTY):
        campaign = bl.Campaign.create(
            name, parameters, objective, storage=storage_url, seed=i, initial_design_size=100
        )
        (trial,) = campaign.ask(1)
        campaign.tell(trial.number, {NASTY[4]: 1.5})
        campaign.correct(trial.number, 2.5, reason=NASTY[(i + 1) % len(NASTY)])
        campaign.add_observation(
            {NASTY[0]: 0.5, NASTY[1]: 2, NASTY[2]: NASTY[6], NASTY[6]: 1.0}, 3.5
        )
    dispose(storage_url)
    assert bl.Campaign.list(storage_url) == sorted(NASTY)
    for i, name in enumerate(NASTY):
        again = bl.Campaign.load(name, storage=storage_url)
        assert again.name == name
        assert again.space.names == [p.name for p in parameters]
        assert again.space[NASTY[2]].choices == (NASTY[3], NASTY[6], NASTY[7])
        assert again.objective == objective
        frame = again.to_dataframe()
        assert list(frame.columns[2:6]) == [p.name for p in parameters]
        assert list(frame[NASTY[4]]) == [2.5, 3.5]
        assert frame.loc[1, NASTY[2]] == NASTY[6]
        assert again.history(0)["reason"].iloc[-1] == NASTY[(i + 1) % len(NASTY)]
        assert again.verify() == []
    with pytest.raises(bl.CampaignNotFoundError, match=r"No campaign named \"x' OR 1=1 --\""):
        bl.Campaign.load("x' OR 1=1 --", storage=storage_url)
    # The tables are all still there and hold exactly what was written.
    engine = sa.create_engine(storage_url)
    with engine.connect() as conn:
        counts = {
            t: conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar()
            for t in ("campaigns", "trials", "observations")
        }
    engine.dispose()
    assert counts == {
        "campaigns": len(NASTY),
        "trials": 2 * len(NASTY),
        "observations": 2 * len(NASTY),
    }


# -- a read-only database --------------------------------------------------------------------


def _read_only_uri(path: Path) -> Iterator[str]:
    # SQLite's own read-only mode: works whoever runs the tests, root included.
    yield f"sqlite:///file:{path}?mode=ro&uri=true"


def _read_only_permissions(path: Path) -> Iterator[str]:
    folder = path.parent
    if os.geteuid() != 0:
        path.chmod(0o444)
        folder.chmod(0o555)
        try:
            yield f"sqlite:///{path}"
        finally:
            folder.chmod(0o755)
            path.chmod(0o644)
        return
    # Root writes through any permission bits; the immutable attribute stops root too.
    chattr = shutil.which("chattr")
    if (
        chattr is None
        or subprocess.run([chattr, "+i", str(path)], capture_output=True, check=False).returncode
    ):
        pytest.skip(
            "running as root, where chmod does not stop writes, and chattr +i is not available here"
        )
    subprocess.run([chattr, "+i", str(folder)], check=True)
    try:
        yield f"sqlite:///{path}"
    finally:
        subprocess.run([chattr, "-i", str(folder)], check=True)
        subprocess.run([chattr, "-i", str(path)], check=True)


@pytest.mark.parametrize(
    "how",
    [_read_only_uri, _read_only_permissions],
    ids=["uri-mode-ro", "file-and-folder-read-only"],
)
def test_read_only_database_reads_and_refuses_writes_clearly(tmp_path, how):
    folder = tmp_path / "archive"
    folder.mkdir()
    path = folder / "campaigns.db"
    url = f"sqlite:///{path}"
    campaign = bl.Campaign.create(
        "rig", [bl.Real("x", 0.0, 1.0)], "y", storage=url, initial_design_size=100
    )
    campaign.ask(2)
    campaign.tell(0, 1.0)
    dispose(url)
    before = path.read_bytes()
    mode = stat.S_IMODE(folder.stat().st_mode)
    gen = how(path)
    read_only = next(gen)
    try:
        archived = bl.Campaign.load("rig", storage=read_only)
        assert [t.value for t in archived.trials()] == [1.0, None]
        assert list(archived.history()["action"]) == ["ask", "ask", "tell"]
        writes = [
            lambda: archived.ask(1),
            lambda: archived.tell(1, 2.0),
            lambda: archived.correct(0, 3.0, reason="r"),
            lambda: archived.abandon_pending("r"),
            lambda: bl.Campaign.create("other", [bl.Real("x", 0.0, 1.0)], storage=read_only),
        ]
        for write in writes:
            with pytest.raises(
                bl.StorageError,
                match=r"is read-only \(attempt to write a readonly database\); bo_loop needs to write to it",
            ):
                write()
        dispose(read_only)
    finally:
        with pytest.raises(StopIteration):
            next(gen)
    assert path.read_bytes() == before
    assert stat.S_IMODE(folder.stat().st_mode) == mode
    assert sorted(p.name for p in folder.iterdir()) == ["campaigns.db"]
