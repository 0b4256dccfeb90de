"""The one error line of an output that cannot be written names the file asked for, not
the temp file beside it that the CLI writes first (since 39c8c9b).

Real archive and directories in tmp_path; the disk is filled for real as in
test_cli_output_file_replaced_whole (the child's own RLIMIT_FSIZE, SIGXFSZ ignored)."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys

import pytest
from click.testing import CliRunner

from jobarchive import Archive
from jobarchive.cli import cli

MAIN = [sys.executable, "-c", "from jobarchive.cli import main; main()"]


@pytest.fixture
def archive(tmp_path):
    path = tmp_path / "lab.jobarchive"
    with Archive(path) as arc:
        arc.add_many({"job_id": f"job{i:05d}", "creation_date": "2021-03-01T10:00:00Z",
                      "status": "COMPLETED", "name": f"a-rather-long-job-name-{i:05d}" * 4}
                     for i in range(3000))
    return path


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_an_output_into_a_missing_directory_is_named(tmp_path, archive, fmt):
    """`-o /srv/dash/jobs.csv` with /srv/dash not there (not mounted, a typo) said 'Error:
    No such file or directory: /srv/dash/.jobs.csv.tmp', a file nobody asked for."""
    out = tmp_path / "dash" / f"jobs.{fmt}"
    result = CliRunner().invoke(cli, ["--archive", str(archive), "ls", "--format", fmt,
                                      "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert result.stderr == f"Error: No such file or directory: {out}\n"


def _limited() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, resource.RLIM_INFINITY))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE semantics")
def test_a_full_disk_names_the_output(tmp_path, archive):
    out = tmp_path / "jobs.json"
    done = subprocess.run([*MAIN, "--archive", str(archive), "ls", "--format", "json",
                           "-o", str(out)], capture_output=True, text=True, timeout=120,
                          preexec_fn=_limited)
    assert done.returncode == 1, done.stderr
    assert done.stderr == f"Error: File too large: {out}\n"
