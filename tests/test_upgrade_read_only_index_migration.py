"""An archive on read-only media whose only pending migration adds an index (m008's jobs_v1)
is read as it is, not refused as needing an upgrade.

Every archive written before 015599b (schema m001-m007) lacks jobs_v1. On a backup disk, a
read-only share or a colleague's directory, such an archive was read fine until m008 came;
after it every open said 'needs an upgrade ... Copy the archive directory', gigabytes for
an index that only speeds up counts() of v1 jobs: without it every read gives the same
answer. An archive missing a migration that changes data (f729e4e: before m006) is still
refused (test_read_only_archive). The read-only view is that module's fixture.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pandas as pd
import test_read_only_archive
from test_read_only_archive import snapshot

from jobarchive import Archive

FIXTURE = Path(__file__).parent / "data" / "upgrade" / "c4385f0" / "fixture.zip"
read_only = test_read_only_archive.read_only  # the fixture: a read-only view of a directory

V1 = {"job_id": "v1-job", "creation_date": "2018-08-02T17:29:56Z", "status": "COMPLETED",
      "backend_name": "ibmqx4", "tags": [],
      "qasms": [{"status": "DONE", "qasm": "OPENQASM 2.0;",
                 "result": {"data": {"counts": {"0x0": 3, "0x1": 5}}}}]}


def test_an_archive_lacking_only_an_index_migration_is_read_on_read_only_media(tmp_path, read_only):
    with zipfile.ZipFile(FIXTURE) as zf:
        zf.extractall(tmp_path / "src")
    expected = json.loads((tmp_path / "src" / "expected.json").read_text())
    src = tmp_path / "src" / "archive"
    shutil.copytree(src, tmp_path / "writable")  # upgraded when opened: the answers to match
    before = snapshot(src)
    with Archive(read_only(src), create=False) as ro, Archive(tmp_path / "writable", create=False) as rw:
        assert ro.index.read_only
        assert len(ro) == expected["len"] == len(rw)
        pd.testing.assert_frame_equal(ro.query(limit=None), rw.query(limit=None))
        pd.testing.assert_frame_equal(ro.counts(), rw.counts())
        for job_id in expected["records"]:
            assert ro.record(job_id) == rw.record(job_id), job_id
        assert ro.audit()["ok"].all()
    assert snapshot(src) == before


def test_v1_counts_without_the_index_are_those_with_it(tmp_path, read_only):
    """A v1 job in an archive the read-only open leaves without jobs_v1."""
    import sqlite3

    with Archive(tmp_path / "src") as arc:
        arc.add_many([V1])
    conn = sqlite3.connect(tmp_path / "src" / "index.db")  # the archive as before m008
    conn.execute("DROP INDEX jobs_v1")
    conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm008_v1_jobs'")
    conn.commit()
    conn.close()
    with Archive(read_only(tmp_path / "src"), create=False) as ro:
        assert ro.counts()[["job_id", "bitstring", "count"]].values.tolist() == [
            ["v1-job", "0", 3], ["v1-job", "1", 5]]
