"""`jobarchive ls --format csv -o jobs.csv` from cron, overwriting last night's file: the
file was truncated first and written in place, so a full disk left half a file where a good
one had been (and a colleague's notebook reading it meanwhile got half a listing). The
output is written beside it and renamed over it whole, as `export` does; a failed write
leaves the old file and no temp file. The disk is filled for real: the child lowers its own
file-size limit (RLIMIT_FSIZE) and ignores SIGXFSZ, so a write past it fails with EFBIG."""

from __future__ import annotations

import hashlib
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from jobarchive import Archive

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE semantics")

MAIN = [sys.executable, "-c", "from jobarchive.cli import main; main()"]
LIMIT = 64 * 1024  # above SQLite's 32 KiB shared-memory file, below the outputs


@pytest.fixture
def arc_path(tmp_path: Path) -> Path:
    path = tmp_path / "lab.jobarchive"
    with Archive(path) as arc:
        arc.add_many([{"job_id": f"job{i:04d}", "creation_date": "2021-03-01T10:00:00Z",
                       "status": "COMPLETED", "backend_name": "ibmq_athens",
                       "name": hashlib.sha256(str(i).encode()).hexdigest() * 2}
                      for i in range(1500)])
    return path


def _limited() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, resource.RLIM_INFINITY))


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_a_failed_write_leaves_the_old_output_file(arc_path, tmp_path, fmt):
    out = tmp_path / "reports" / f"jobs.{fmt}"
    out.parent.mkdir()
    out.write_text("last night's listing\n")
    done = subprocess.run([*MAIN, "--archive", str(arc_path), "ls", "--format", fmt,
                           "-o", str(out)], capture_output=True, text=True, timeout=120,
                          preexec_fn=_limited)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("Error:") and "Traceback" not in done.stderr, done.stderr
    assert out.read_bytes() == b"last night's listing\n"
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]  # no temp file left


def test_the_output_is_written_whole_without_a_limit(arc_path, tmp_path):
    out = tmp_path / "jobs.csv"
    out.write_text("old\n")
    done = subprocess.run([*MAIN, "--archive", str(arc_path), "ls", "--format", "csv",
                           "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert out.read_text().count("\njob") == 1500
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jobs.csv", "lab.jobarchive"]


def test_an_output_path_that_is_a_directory_is_named(arc_path, tmp_path):
    done = subprocess.run([*MAIN, "--archive", str(arc_path), "ls", "--format", "csv",
                           "-o", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and str(tmp_path) in done.stderr, done.stderr
    assert "is a directory" in done.stderr.lower(), done.stderr


def test_output_to_dev_stdout_and_through_a_link_still_work(arc_path, tmp_path):
    done = subprocess.run([*MAIN, "--archive", str(arc_path), "ls", "--format", "csv",
                           "-o", "/dev/stdout"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.count("\njob") == 1500, done.stderr
    real = tmp_path / "shared" / "jobs.csv"
    real.parent.mkdir()
    real.write_text("old\n")
    link = tmp_path / "jobs.csv"
    link.symlink_to(real)
    done = subprocess.run([*MAIN, "--archive", str(arc_path), "ls", "--format", "csv",
                           "-o", str(link)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert link.is_symlink() and real.read_text().count("\njob") == 1500
