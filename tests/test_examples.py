"""Every example runs standalone against its embedded emulator and says something meaningful."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from jobarchive import Archive

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SMALL = "200"


def _run(name: str, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "JOBARCHIVE_EXAMPLE_JOBS": SMALL, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True,
                          text=True, env=env, timeout=timeout, cwd=EXAMPLES.parent)


def test_every_example_is_tested():
    assert sorted(p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")) == [
        "bulk_retag.py", "historical_analysis.py", "reproducibility_audit.py"]


def test_historical_analysis(tmp_path):
    path = tmp_path / "h.jobarchive"
    proc = _run("historical_analysis.py", "--archive", str(path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for needle in ("1. success rate per backend per month", "2. median queue time",
                   "3. circuit family 'bell' on devices", "overall", "other"):
        assert needle in out, (needle, out)
    assert "%" in out.split("1. success rate", 1)[1]
    with Archive(path) as arc:
        assert len(arc) >= int(SMALL)


def test_reproducibility_audit(tmp_path):
    proc = _run("reproducibility_audit.py", "--archive", str(tmp_path / "r.jobarchive"),
                "--sample", "5")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for needle in ("1. integrity", ": 0 problems", "2. completeness", "3. reproduce 5 results",
                   "fidelity: min", "4. tamper detection", "the audit flags"):
        assert needle in out, (needle, out)
    assert "(none!)" not in out


def test_bulk_retag(tmp_path):
    proc = _run("bulk_retag.py", "--archive", str(tmp_path / "b.jobarchive"), "--tag", "t-42")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for needle in ("1. dry run", "nothing is written", "server jobs carrying 't-42' after the dry run: 0",
                   "2. applied on the server", "server and archive tags differ on 0 jobs",
                   "3. planning the same campaign again: 0 jobs would change",
                   "server jobs carrying 't-42': 0\n", "4. undo"):
        assert needle in out, (needle, out)


def test_examples_default_to_a_temporary_archive():
    proc = _run("bulk_retag.py", "--seed-jobs", "60")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not list(EXAMPLES.parent.glob("*.jobarchive"))


def test_bulk_retag_twice_on_one_archive(tmp_path):
    """`--archive PATH` is a path a user keeps: a second run (a fresh emulator, the archive
    of the first run) plans the same campaign and ends with the tag on every job."""
    path = str(tmp_path / "b2.jobarchive")
    outs = []
    for _ in range(2):
        proc = _run("bulk_retag.py", "--archive", path, "--tag", "t-7")
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        outs.append(proc.stdout)
    campaign = [out.split("campaign:", 1)[1].splitlines()[0] for out in outs]
    assert campaign[0] == campaign[1], campaign
    assert "remove 't-7'" not in campaign[1]
    selected = int(campaign[1].split()[0])
    assert f"server jobs carrying 't-7': {selected};" in outs[1], outs[1]
