"""Two runs writing the same output file at once: a dashboard feed from cron
(`jobarchive ls --format json -o /srv/dash/jobs.json` every 10 minutes) that overran
into the next run, or two crontab lines writing one file.

Real processes on a real archive (40,000 jobs, so that writing the file takes a while);
the first run is stopped with SIGSTOP while it writes, as a loaded machine may stop it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jobarchive import Archive

JOBS = 40_000


def _start(cwd: Path, archive: Path, out: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "jobarchive.cli", "--archive", str(archive),
                             "ls", "--format", "json", "-o", out], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})


def _temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".jobs.json"))


@pytest.mark.timeout(240)
def test_two_runs_writing_one_output_file_leave_it_whole(tmp_path):
    """Both runs wrote through the one temp name '.jobs.json.tmp': the second truncated and
    rewrote the first's file and renamed it into place, and the first, going on, wrote its
    remaining chunks at its own offsets into what was now jobs.json (a mix of two listings
    when they differ, a sync between them), then failed with 'No such file or directory:
    .jobs.json.tmp' (exit 1, a cron mail). Each run now writes a temp file of its own."""
    archive = tmp_path / "lab.jobarchive"
    with Archive(archive) as arc:
        arc.add_many({"job_id": f"j{i:06d}", "creation_date": f"2021-03-01T00:{i // 60 % 60:02d}"
                      f":{i % 60:02d}Z", "status": "COMPLETED", "name": f"run-{i}",
                      "tags": ["dash"]} for i in range(JOBS))
    dash = tmp_path / "dash"
    dash.mkdir()
    first = _start(dash, archive, "jobs.json")
    try:
        while not _temp_files(dash) and first.poll() is None:
            time.sleep(0.002)
        os.kill(first.pid, signal.SIGSTOP)
        assert first.poll() is None, "the first run ended before it could be stopped"
        second = _start(dash, archive, "jobs.json")
        out, err = second.communicate(timeout=120)
        assert second.returncode == 0, err
    finally:
        os.kill(first.pid, signal.SIGCONT)
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    records = json.loads((dash / "jobs.json").read_text())
    assert len(records) == JOBS
    assert _temp_files(dash) == []


@pytest.mark.timeout(240)
def test_a_run_killed_while_writing_leaves_no_temp_file_after_the_next(tmp_path):
    """timeout(1) or systemd killing a run mid-write leaves its temp file; the next run
    removes it (one per kill would pile up, each the size of the output)."""
    archive = tmp_path / "lab.jobarchive"
    with Archive(archive) as arc:
        arc.add_many({"job_id": f"j{i:06d}", "creation_date": "2021-03-01T00:00:00Z",
                      "status": "COMPLETED"} for i in range(JOBS))
    dash = tmp_path / "dash"
    dash.mkdir()
    killed = _start(dash, archive, "jobs.json")
    while not _temp_files(dash) and killed.poll() is None:
        time.sleep(0.002)
    killed.kill()
    killed.communicate()
    assert _temp_files(dash), "the killed run ended before it was killed"
    again = _start(dash, archive, "jobs.json")
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert len(json.loads((dash / "jobs.json").read_text())) == JOBS
    assert _temp_files(dash) == []
