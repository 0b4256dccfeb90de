"""README.md's code runs as written: the Python block (it starts its own emulator) and the
command-line examples (against an emulator in place of the IBM server)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from jobarchive import Archive
from jobarchive.cli import DEFAULT_URL, cli
from jobarchive.emulator import Emulator

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(fence: str) -> list[str]:
    return re.findall(rf"```{fence}\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_the_python_block_runs_as_written(tmp_path):
    """It used to query tags no job of the emulator carries (["vqe", "h2"]) and then index
    the empty frame: `df.job_id[0]` raised KeyError."""
    (block,) = _blocks("python")
    script = tmp_path / "readme.py"
    script.write_text(block, encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=240, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert re.search(r"^sync: \d+ discovered", out, re.M), out
    assert "'problems': 0" in out and "'reproduced': 100" in out, out
    assert "paper-2021" in out  # the dry-run plan lists what it would add
    assert (tmp_path / "lab.jobarchive" / "index.db").exists()


def _command_lines() -> list[str]:
    section = README.read_text(encoding="utf-8").split("## The command line", 1)[1]
    block = re.search(r"```\n(.*?)```", section, re.S).group(1)
    return [line.split("#", 1)[0].strip() for line in block.splitlines()
            if line.startswith("jobarchive ")]


def test_the_command_line_examples_run(tmp_path, monkeypatch):
    """Each command of the README's command-line block exits 0 against a server (the
    emulator for the IBM one). `audit --reproduce --sample 200` exited 3 on a healthy
    archive: device jobs differ from the ideal re-run by their noise."""
    lines = _command_lines()
    assert [shlex.split(line)[3] for line in lines] == ["sync", "ls", "retag", "audit", "export", "backup"]
    monkeypatch.chdir(tmp_path)
    with Emulator(seed_jobs=300, seed=5) as emu:
        monkeypatch.setenv("JOBARCHIVE_TOKEN", emu.token)
        monkeypatch.setenv("JOBARCHIVE_URL", emu.url)  # for the lines without --url
        runner = CliRunner()
        for line in lines:
            args = [emu.url if a == DEFAULT_URL else a for a in shlex.split(line)[1:]]
            res = runner.invoke(cli, args)
            assert res.exit_code == 0, (line, res.output[-2000:])
            if args[2] == "audit":
                assert "problems=0" in res.stderr and "reproduced=200" in res.stderr
    assert (tmp_path / "lab-export" / "jobs.parquet").exists()
    assert (tmp_path / "lab-export" / "counts.parquet").exists()
    with Archive(tmp_path / "lab-backup", create=False) as copy:
        assert len(copy) == 300 and copy.audit()["ok"].all()
