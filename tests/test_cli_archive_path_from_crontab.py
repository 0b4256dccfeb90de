"""A crontab line `JOBARCHIVE_PATH=~/lab.jobarchive` (or `$HOME/lab.jobarchive`), written
as in ~/.bashrc: cron sets variables without a shell, so the value reached jobarchive as
typed, and the nightly sync made a new archive in a directory literally named "~" (or
"$HOME") under cron's working directory, while the researcher's archive got nothing. The
variable's value is expanded as a shell would have."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from jobarchive import Archive

MAIN = [sys.executable, "-c", "from jobarchive.cli import main; main()"]


@pytest.mark.parametrize("value", ["~/lab.jobarchive", "$HOME/lab.jobarchive",
                                   "${HOME}/lab.jobarchive"])
def test_the_variable_names_the_archive_in_home(tmp_path, value):
    home, cwd = tmp_path / "home", tmp_path / "cron-cwd"
    home.mkdir()
    cwd.mkdir()
    with Archive(home / "lab.jobarchive") as arc:
        arc.add_many([{"job_id": "j1", "creation_date": "2021-03-01T00:00:00Z",
                       "status": "COMPLETED"}])
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "JOBARCHIVE_PATH": value,
           **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"}}
    done = subprocess.run([*MAIN, "ls", "--format", "csv"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "\nj1," in done.stdout
    assert list(cwd.iterdir()) == []

