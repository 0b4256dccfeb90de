"""Every example in a command's --help epilog runs against an archive synced from the
emulator (a demo archive), and the examples that select jobs select some.

Placeholders are filled in as a user would: JOB_ID/ID1/ID2 with ids `ls` lists, T and
<printed token> with the token, the emulator's URL for http://127.0.0.1:8080/api. `demo` and
`emulator` (long-running) are only parsed; `duckdb` is not ours. They used to show tags no
demo job carries (`--tag vqe --tag h2`, `--tag run7`: "no jobs match") and a made-up job id
that failed with "no job ... in the archive"."""

from __future__ import annotations

import shlex
import shutil

import click
import pytest
from click.testing import CliRunner

from jobarchive import Archive, connect
from jobarchive.cli import cli
from jobarchive.emulator import Emulator

EXAMPLE_URL = "http://127.0.0.1:8080/api"


def _examples() -> list[tuple[str, str]]:
    """(command name, example line) of every epilog, the group's included."""
    found = []
    for name, cmd in [("", cli), *sorted(cli.commands.items())]:
        for line in (cmd.epilog or "").splitlines():
            line = line.strip()
            if line.startswith("jobarchive ") or "; jobarchive " in line:
                found.append((name, line))
    return found


def test_every_command_has_examples():
    names = {name for name, _ in _examples()}
    assert names == {"", *cli.commands}, sorted(set(cli.commands) - names)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("help-examples")
    with Emulator(seed_jobs=150, seed=7) as emu:
        with Archive(root / "jobs.jobarchive") as arc:
            arc.sync(connect(emu.url, emu.token), progress=False)
            done = arc.query(status="DONE", limit=2)
        shutil.copytree(root / "jobs.jobarchive", root / "lab.jobarchive")
        yield root, emu, list(done["job_id"])


def _fill(line: str, ids: list[str], emu: Emulator) -> tuple[list[str], dict[str, str]]:
    env = {}
    if line.startswith("export QE_TOKEN=...; "):
        line = line.split("; ", 1)[1]
        env["QE_TOKEN"] = emu.token
    line = line.replace("<printed token>", emu.token).replace(EXAMPLE_URL, emu.url)
    args = shlex.split(line.split(" > ", 1)[0])[1:]
    subst = {"JOB_ID": ids[0], "ID1": ids[0], "ID2": ids[1], "T": emu.token}
    out = []
    for i, arg in enumerate(args):
        if arg == "T" and args[i - 1] != "--token":
            out.append(arg)
        else:
            out.append(subst.get(arg, arg))
    return out, env


@pytest.mark.parametrize("name,line", _examples(), ids=[f"{n or 'group'}:{i}" for i, (n, _) in
                                                        enumerate(_examples())])
def test_help_example_runs(name, line, base, tmp_path, monkeypatch):
    root, emu, ids = base
    args, env = _fill(line, ids, emu)
    if _command(args) in ("demo", "emulator"):  # long-running: parse only
        _parse(args)
        return
    for archive in ("jobs.jobarchive", "lab.jobarchive"):
        shutil.copytree(root / archive, tmp_path / archive)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.qiskit/qiskitrc of the machine
    monkeypatch.delenv("JOBARCHIVE_PATH", raising=False)
    monkeypatch.delenv("JOBARCHIVE_URL", raising=False)
    monkeypatch.setenv("JOBARCHIVE_TOKEN", emu.token)  # as `export QE_TOKEN=...` would
    args = [f"{tmp_path}{a}" if a.startswith("/mnt/") else a for a in args]  # a backup disk
    res = CliRunner().invoke(cli, args, env=env)
    assert res.exit_code == 0, (line, args, res.output[-2000:], res.exception)
    assert "no jobs match" not in res.stderr and "no jobs selected" not in res.stderr, line
    if _command(args) in ("ls", "counts", "show") and "--output" not in args:
        assert res.stdout.strip(), (line, res.stderr)


def _command(args: list[str]) -> str:
    return (args[2:] if args[0] == "--archive" else args)[0]


def _parse(args: list[str]) -> None:
    """Parse a command line as `jobarchive` would, without running it."""
    rest = args[2:] if args[0] == "--archive" else args
    with cli.make_context("jobarchive", list(args)) as ctx:
        sub = cli.commands[rest[0]]
        with sub.make_context(sub.name, rest[1:], parent=ctx):
            pass


def test_parse_only_examples_are_checked():
    """The parse-only path really rejects an unknown option or a bad value."""
    with pytest.raises(click.UsageError):
        _parse(["emulator", "--no-such-option"])
    with pytest.raises(click.BadParameter):
        _parse(["--archive", "x", "demo", "--seed-jobs", "-1"])
