"""The demo's closing `try:` hints run as printed when the archive path holds a space or a
shell character (`jobarchive --archive "d (1).jobarchive" demo`): the path was printed bare,
so the shell split it (or refused the parenthesis) and the hint failed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from jobarchive.cli import cli


def test_hints_run_as_printed_with_a_spaced_archive_path(tmp_path, monkeypatch):
    where = tmp_path / "my lab's"
    where.mkdir()
    monkeypatch.chdir(where)
    result = CliRunner().invoke(cli, ["--archive", "d (1).jobarchive", "demo", "--quick",
                                      "--seed-jobs", "30", "--no-progress"])
    assert result.exit_code == 0, result.output
    tail = result.stdout.split("try:", 1)[1].splitlines()
    hints = [line.strip() for line in tail if line.strip()]
    assert len(hints) == 3, hints
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    for hint in hints:
        proc = subprocess.run(["bash", "-c", hint], cwd=where, capture_output=True, text=True,
                              timeout=120, env=env)
        assert proc.returncode == 0, (hint, proc.stderr)
    assert (where / "d (1)-export" / "jobs.parquet").is_file()
