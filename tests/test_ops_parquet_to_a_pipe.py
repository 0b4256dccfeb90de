"""`--format parquet -o /dev/stdout` (or a FIFO) for a script that streams the listing on
(`| aws s3 cp - s3://dash/jobs.parquet`, a dashboard loader reading stdin).

The CLI runs in a child process whose stdout is a pipe; a real archive in tmp_path."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from jobarchive import Archive


@pytest.mark.parametrize("command", [["ls"], ["counts", "j1", "j2"]])
def test_parquet_into_a_pipe(tmp_path, command):
    """Both ended in 'Error: OSError: lseek failed' (exit 1), nothing written: pyarrow,
    given the path, opened /dev/stdout as a seekable file. '/dev/stdout and FIFOs are
    written as before' (39c8c9b) held for csv and json only."""
    path = tmp_path / "lab.jobarchive"
    with Archive(path) as arc:
        for i in (1, 2):
            arc.add({"job_id": f"j{i}", "creation_date": "2021-03-01T00:00:00Z",
                     "status": "COMPLETED", "tags": ["dash"],
                     "result": {"backend_name": "ibmq_qasm_simulator", "success": True,
                                "results": [{"shots": 10, "success": True,
                                             "data": {"counts": {"0x0": 4, "0x3": 6}}}]}})
    done = subprocess.run([sys.executable, "-m", "jobarchive.cli", "--archive", str(path),
                           "-q", *command, "--format", "parquet", "-o", "/dev/stdout"],
                          capture_output=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 0, done.stderr.decode()
    table = pq.read_table(io.BytesIO(done.stdout))
    assert table.num_rows == (2 if command == ["ls"] else 4)
    assert set(table.column("job_id").to_pylist()) == {"j1", "j2"}
