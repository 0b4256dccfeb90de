"""A warning the library gives while a command runs (a job whose tags were edited outside
jobarchive, shown as None) reached the shell as Python prints warnings: the path of cli.py,
a line number, "UserWarning:", then the source line `return arc.query(**query_kwargs(opts))`.
It is one `Warning:` line on stderr, like the one `Error:` line of a failure."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

from jobarchive import Archive

MAIN = [sys.executable, "-c", "from jobarchive.cli import main; main()"]


def test_a_library_warning_is_one_line_on_stderr(tmp_path):
    path = tmp_path / "w.jobarchive"
    with Archive(path) as arc:
        arc.add_many([{"job_id": f"j{i}", "creation_date": f"2021-03-0{i + 1}T00:00:00Z",
                       "status": "COMPLETED", "tags": ["a"]} for i in range(3)])
    with sqlite3.connect(path / "index.db") as conn:  # edited outside jobarchive
        conn.execute("UPDATE jobs SET tags = ? WHERE job_id = ?", ('["a",', "j1"))
    conn.close()
    done = subprocess.run([*MAIN, "--archive", str(path), "ls", "--format", "json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert [row["job_id"] for row in json.loads(done.stdout)] == ["j2", "j1", "j0"]
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("Warning: 1 job(s) have tags") and "'j1'" in lines[0], lines
    assert "UserWarning" not in done.stderr and ".py:" not in done.stderr


def test_a_warning_into_a_closed_stderr_does_not_stop_the_command(tmp_path):
    """`jobarchive ls ... 2>&1 | head -1` style: stderr's reader is gone. Python's own
    display drops a warning it cannot write; the listing must still be printed whole."""
    import os

    path = tmp_path / "w.jobarchive"
    with Archive(path) as arc:
        arc.add_many([{"job_id": f"j{i}", "creation_date": f"2021-03-0{i + 1}T00:00:00Z",
                       "status": "COMPLETED", "tags": ["a"]} for i in range(3)])
    with sqlite3.connect(path / "index.db") as conn:
        conn.execute("UPDATE jobs SET tags = ? WHERE job_id = ?", ('["a",', "j1"))
    conn.close()
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([*MAIN, "--archive", str(path), "ls", "--format", "json"],
                              stdout=subprocess.PIPE, stderr=write_end, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert done.returncode == 0
    assert [row["job_id"] for row in json.loads(done.stdout)] == ["j2", "j1", "j0"]
