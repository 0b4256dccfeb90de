"""Archives of the last version before m008 (jobs_v1, 015599b) upgrade without a change.

``tests/data/upgrade/c4385f0/fixture.zip`` was written by that commit's code with
tests/data/old_archives/make.py (see the README there): schema m001-m007 and the newest
blob files before the upgrade (page CRCs, dictionary-encoded columns, the counts marker),
which none of the older fixtures have. The v1 counts that m008 serves are checked on an
archive the old code writes in the test (its own history, run in a real process), also
while it goes on writing after the upgrade.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pandas as pd
import test_old_writer
from test_old_writer import write_old_then_upgrade
from test_upgrade import (
    ALL_MIGRATIONS,
    applied,
    assert_same_archive,
    make,
    more_writes,
    write_steps,
)

from jobarchive import Archive

REV = "c4385f0"  # 015599b's parent: the last commit whose schema ends at m007
FIXTURE = Path(__file__).parent / "data" / "upgrade" / REV / make.FIXTURE
old_code = test_old_writer.old_code  # the fixture: the project's code at a commit


def unpack(dest: Path) -> tuple[Path, dict]:
    with zipfile.ZipFile(FIXTURE) as zf:
        zf.extractall(dest)
    return dest / "archive", json.loads((dest / "expected.json").read_text())


def test_the_archive_of_the_last_m007_version_upgrades_and_reads_back_as_written(tmp_path):
    path, expected = unpack(tmp_path / "old")
    assert expected["commit"] == REV and applied(path) == ALL_MIGRATIONS[:7]
    with Archive(path, create=False) as old, Archive(tmp_path / "new") as new:
        assert applied(path) == ALL_MIGRATIONS
        write_steps(new, expected["steps"])
        assert_same_archive(old, new)
        # What that version read back is read back: every record (expected.json keeps no
        # key order; assert_same_archive compares it), history and count.
        for job_id, record in expected["records"].items():
            assert json.dumps(old.record(job_id), sort_keys=True) == json.dumps(record, sort_keys=True), job_id
            assert [list(e) for e in expected["history"][job_id]] == \
                old.history(job_id)[["kind", "old", "new", "source"]].astype(object).values.tolist()
        assert make._rows(old.counts()[["job_id", "experiment", "bitstring", "count", "key"]]) == expected["counts"]
        frame = old.audit(verify=True)
        assert frame["ok"].all(), frame[~frame["ok"]].to_dict("records")
        assert frame.attrs["orphans"] == [] and old.index.integrity() == []
        more_writes(old)
        more_writes(new)
        assert_same_archive(old, new)
        assert old.audit(repair=True)["ok"].all()


def _v1(n: int) -> dict:
    qasm = {"status": "DONE", "qasm": "OPENQASM 2.0;", "result": {"data": {"counts": {"0x0": 3 + n, "0x1": 5}}}}
    return {"job_id": f"v1-{n:03d}", "creation_date": f"2018-08-0{1 + n % 9}T17:29:56Z",
            "status": "COMPLETED", "backend_name": "ibmqx4", "tags": [], "qasms": [qasm] * (1 + n % 2)}


def test_v1_counts_of_jobs_written_before_and_after_the_upgrade_by_the_last_m007_version(tmp_path, old_code):
    """m008's index is built over the v1 jobs the old version wrote, and kept by SQLite
    for those it writes after the upgrade: counts() of every job finds them all."""
    path = tmp_path / "a"
    before, after = [_v1(n) for n in range(4)], [_v1(n) for n in range(4, 7)]
    write_old_then_upgrade(old_code(REV), path, before, after)
    with Archive(path, create=False) as old, Archive(tmp_path / "new") as new:
        assert applied(path) == ALL_MIGRATIONS
        new.add_many(before + after)
        pd.testing.assert_frame_equal(old.counts(), new.counts())
        assert set(old.counts()["job_id"]) == {r["job_id"] for r in before + after}
        ids = ["v1-005", "v1-000"]
        pd.testing.assert_frame_equal(old.counts(ids), new.counts(ids))
        assert old.audit()["ok"].all()
