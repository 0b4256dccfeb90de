"""A plain audit names every row that an older version wrote after the upgrade and that
audit(repair=True) would rewrite, not only the share levels, clients and tag counts.

The first version (ebf3bdd: before the big-int marker of baa9d62 and before m006) opened
the archive before this version upgraded it, then went on writing: a doc holding an int
beyond 64 bits as plain JSON (record() reads it as a float), and a v1 job (circuits in
``qasms``) with num_experiments NULL (queries show none). The jobs carry no tags and their
share level and client are set, so no other check says anything about them. The old code
is the project's own history, run in a real process (test_old_writer's helpers)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import test_old_writer
from test_old_writer import job, write_old_then_upgrade

from jobarchive import Archive

old_code = test_old_writer.old_code  # the fixture: the project's code at a commit

BIG = -(2 ** 65) - 3


def experiments(arc: Archive, job_id: str):
    frame = arc.query(limit=None)
    return frame.loc[frame["job_id"] == job_id, "num_experiments"].tolist()


def old_rows() -> list[dict]:
    v1 = job(20, tags=[], share_level="none")
    del v1["result"], v1["qobj"]
    v1["qasms"] = [{"qasm": "OPENQASM 2.0; h q[0];", "status": "DONE"}] * 3
    big = job(21, tags=[], share_level="none", big_field=BIG)
    return [v1, big]


def test_audit_names_the_big_int_and_v1_rows_an_old_version_wrote_after_the_upgrade(tmp_path: Path, old_code):
    path = tmp_path / "a"
    write_old_then_upgrade(old_code("ebf3bdd"), path, [job(0, tags=[], share_level="none")], old_rows())
    with Archive(path, create=False) as arc:
        # What the old rows read as before the repair: wrong, and the audit must say so.
        assert arc.record("old00021")["big_field"] != BIG
        assert pd.isna(experiments(arc, "old00020")[0])

        frame = arc.audit()
        assert frame.attrs["tag_count_problems"] == []
        bad = frame[~frame["ok"]].set_index("job_id")["problem"]
        assert sorted(bad.index) == ["old00020", "old00021"], frame.to_dict("records")
        assert "beyond 64 bits" in bad["old00021"] and "audit(repair=True)" in bad["old00021"]
        assert "num_experiments" in bad["old00020"] and "audit(repair=True)" in bad["old00020"]

        repaired = arc.audit(repair=True)
        assert repaired["ok"].all(), repaired[~repaired["ok"]].to_dict("records")
        assert repaired.attrs["repaired_rows"] == 2
        assert arc.audit()["ok"].all()
        value = arc.record("old00021")["big_field"]
        assert type(value) is int and value == BIG
        assert experiments(arc, "old00020") == [3]


def test_a_new_archive_with_big_ints_and_v1_jobs_audits_clean(tmp_path: Path):
    """The same jobs written by this version: nothing for the new checks to find (a doc
    with a 19-digit run that is no int beyond 64 bits, a v1 job without circuits)."""
    rows = old_rows() + [job(22, tags=[], share_level="none", note="1234567890123456789012",
                             ratio=1.2345678901234567890123, small=2 ** 62),
                         dict(job(23, tags=[], share_level="none"), qasms=[], result=None, qobj=None)]
    with Archive(tmp_path / "a") as arc:
        arc.add_many(rows)
        frame = arc.audit()
        assert frame["ok"].all(), frame[~frame["ok"]].to_dict("records")
        assert arc.audit(repair=True).attrs["repaired_rows"] == 0
