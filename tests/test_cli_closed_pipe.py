"""`jobarchive ls --format json | head -1`: the reader takes its line and goes away. The
command exited 1 (click's code for a broken pipe, with no `Error:` line to say why) where
csv and table exited 0 only because their text fitted in the pipe's buffer; a wrapper with
`set -o pipefail` saw a failure. A reader leaving ends the output, not the command: the
exit code is the command's own (0, or 3 for an audit's problems)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobarchive import Archive

MAIN = [sys.executable, "-c", "from jobarchive.cli import main; main()"]


def _records(n: int = 400) -> list[dict]:
    return [{"job_id": f"job{i:04d}", "creation_date": f"2021-03-{1 + i % 28:02d}T10:00:00Z",
             "status": "COMPLETED", "backend_name": "ibmq_athens", "name": f"bell-{i}",
             "tags": ["a", "b"],
             "result": {"results": [{"shots": 10, "header": {"memory_slots": 1},
                                     "data": {"counts": {"0x0": 4, "0x1": 6}}}]},
             "qobj": {"qobj_id": f"q{i}", "experiments": [{}]}} for i in range(n)]


@pytest.fixture(scope="module")
def arc_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pipe") / "lab.jobarchive"
    with Archive(path) as arc:
        arc.add_many(_records())
    return path


def _into_a_closed_pipe(arc_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the command with stdout a pipe whose reader is gone (as after `head -1`)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([*MAIN, "--archive", str(arc_path), *args], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)


@pytest.mark.parametrize("args", [["ls", "--format", "json"], ["ls", "--format", "csv"],
                                  ["ls"], ["show", "job0001", "--json"], ["show", "job0001"],
                                  ["counts", "job0001", "job0002", "--format", "json"]],
                         ids=" ".join)
def test_a_reader_that_stops_early_is_not_an_error(arc_path, args):
    done = _into_a_closed_pipe(arc_path, *args)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr


def test_head_of_the_json_listing_exits_0(arc_path):
    done = subprocess.run(f"set -o pipefail; {' '.join(MAIN[:2])} '{MAIN[2]}' --archive "
                          f"'{arc_path}' ls --format json | head -1",
                          shell=True, executable="/bin/bash", capture_output=True, text=True,
                          timeout=120)
    assert done.stdout == "[\n"
    assert done.returncode == 0, done.stderr


def test_an_audit_cut_short_still_says_it_found_problems(tmp_path):
    path = tmp_path / "lab.jobarchive"
    with Archive(path) as arc:
        arc.add_many(_records(50))
    for blob in (path / "blobs").rglob("*.parquet"):
        blob.write_bytes(blob.read_bytes()[:-10])  # damaged
    done = _into_a_closed_pipe(path, "audit", "--all", "--format", "json", "--no-progress")
    assert done.returncode == 3, done.stderr
    assert "audit:" in done.stderr  # the summary on stderr is still written


def _both_into_a_closed_pipe(arc_path: Path, *args: str) -> subprocess.CompletedProcess:
    """`jobarchive ... 2>&1 | head -1`: stdout and stderr one pipe whose reader is gone."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([*MAIN, "--archive", str(arc_path), *args], stdout=write_end,
                              stderr=write_end, timeout=120)
    finally:
        os.close(write_end)


def test_stderr_of_a_healthy_audit_cut_short_is_not_an_error(arc_path):
    assert _both_into_a_closed_pipe(arc_path, "audit", "--no-progress").returncode == 0


def test_stderr_of_an_audit_with_problems_cut_short_still_exits_3(tmp_path):
    path = tmp_path / "lab.jobarchive"
    with Archive(path) as arc:
        arc.add_many(_records(20))
    for blob in (path / "blobs").rglob("*.parquet"):
        blob.write_bytes(blob.read_bytes()[:-10])
    assert _both_into_a_closed_pipe(path, "audit", "--no-progress").returncode == 3


def test_a_sync_whose_output_is_cut_short_still_syncs(tmp_path):
    from jobarchive.emulator import Emulator

    path = tmp_path / "s.jobarchive"
    with Emulator(seed_jobs=6, seed=1) as emu:
        done = _both_into_a_closed_pipe(path, "sync", "--url", emu.url, "--token", emu.token,
                                        "--no-progress")
        assert done.returncode == 0
        with Archive(path) as arc:
            assert len(arc) == 6
