"""An export's files belong together: jobs.* and counts.* come from one state of the archive
(a sync writing meanwhile must not put counts of jobs beside a job list that lacks them),
and an export with --no-counts does not leave an earlier export's counts.* beside its jobs.*
as if they were its own."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pandas as pd
from click.testing import CliRunner

from jobarchive import Archive
from jobarchive.cli import cli

WRITER = textwrap.dedent("""
    import sys
    from jobarchive import Archive
    with Archive(sys.argv[1]) as arc:
        arc.add_many([{"job_id": f"late{i}", "creation_date": "2021-06-01T00:00:00Z",
                       "status": "COMPLETED", "result": {"results": [
                           {"shots": 2, "data": {"counts": {"0x1": 2}}}]}} for i in range(5)])
""")


def job(i: int) -> dict:
    return {"job_id": f"j{i}", "creation_date": "2021-05-04T11:35:02Z", "status": "COMPLETED",
            "tags": ["t"], "result": {"results": [{"shots": 4, "data": {"counts": {"0x0": 4}}}]}}


def test_reads_in_a_snapshot_see_one_state_while_another_process_writes(tmp_path):
    path = tmp_path / "a"
    with Archive(path) as arc:
        arc.add_many([job(i) for i in range(3)])
        with arc.snapshot():
            jobs = arc.query(limit=None)
            subprocess.run([sys.executable, "-c", WRITER, str(path)], check=True)
            counts = arc.counts()
            assert len(arc) == 3
        assert set(counts["job_id"]) == set(jobs["job_id"]) == {"j0", "j1", "j2"}
        assert len(arc) == 8 and arc.counts()["job_id"].nunique() == 8  # after the block


def test_export_without_counts_removes_an_earlier_exports_counts(tmp_path):
    path, out = tmp_path / "a", tmp_path / "out"
    with Archive(path) as arc:
        arc.add_many([job(i) for i in range(3)])
    runner = CliRunner()
    first = runner.invoke(cli, ["--archive", str(path), "export", str(out)])
    assert first.exit_code == 0 and (out / "counts.parquet").exists(), first.output
    second = runner.invoke(cli, ["--archive", str(path), "export", str(out), "--no-counts",
                                 "--tag", "none-has-it"])
    assert second.exit_code == 0, second.output
    assert len(pd.read_parquet(out / "jobs.parquet")) == 0
    assert not (out / "counts.parquet").exists()  # was: the 3 jobs' counts of the first export
    assert "counts.parquet: removed" in second.output
