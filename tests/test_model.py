"""Model-based test: random add/add_many/query/counts/reopen sequences against a dict model."""

from __future__ import annotations

import hypothesis.strategies as st
from archive_model import ArchiveMachine
from hypothesis import HealthCheck, settings
from hypothesis.stateful import initialize, rule

from jobarchive import JobValidationError

IDS = st.sampled_from([f"job{i:03d}" for i in range(25)])
TAGS = st.lists(st.sampled_from(["a", "b", "c", "ibmq_jobset_1", "ü", "x y"]), max_size=4)  # repeats: a tag counts once a job
STATUSES = st.sampled_from(["QUEUED", "RUNNING", "COMPLETED", "CANCELLED", "ERROR_RUNNING_JOB"])


@st.composite
def records(draw, job_id=IDS):
    jid = draw(job_id)
    status = draw(STATUSES)
    rec = {
        "job_id": jid,
        "creation_date": f"2023-0{1 + int(jid[3:]) % 9}-1{int(jid[3:]) % 10}T00:00:00Z",
        "status": status,
        "name": draw(st.one_of(st.none(), st.text(max_size=8))),
        "tags": draw(TAGS),
        "backend_name": draw(st.sampled_from(["ibmq_athens", "ibmq_lima"])),
        "share_level": draw(st.sampled_from(["none", "hub"])),
    }
    if status == "COMPLETED" and draw(st.booleans()):
        rec["result"] = {"results": [{"shots": 10, "success": True,
                                      "data": {"counts": {"0x0": draw(st.integers(0, 10))}}}]}
        rec["qobj"] = {"experiments": [{}]}
    return rec


class ArchiveModel(ArchiveMachine):
    """The archive must always equal a plain dict of normalized records."""

    @initialize()
    def setup(self):
        self.open_archive()

    @rule(rec=records())
    def add(self, rec):
        self.arc.add(rec)
        self._apply(rec)

    @rule(recs=st.lists(records(), max_size=8))
    def add_many(self, recs):
        self.arc.add_many(recs)
        for rec in recs:  # one call equals adding them in turn, repeated ids included
            self._apply(rec)

    @rule(recs=st.lists(records(), min_size=1, max_size=5))
    def add_many_with_a_bad_job_writes_nothing(self, recs):
        bad = dict(recs[0], tags="not-a-list")
        try:
            self.arc.add_many([*recs, bad])
        except JobValidationError:
            pass
        else:
            raise AssertionError("a bad job must be refused")

    @rule(tags=TAGS, op=st.sampled_from(["AND", "OR"]))
    def query_by_tags(self, tags, op):
        self.check_query_by_tags(tags, op)

    @rule()
    def counts_match(self):
        frame = self.arc.counts()
        want = sorted((j, c) for j, r in self.model.items() if r["result"]
                      for c in r["result"]["results"][0]["data"]["counts"].values())
        assert sorted(zip(frame["job_id"], frame["count"], strict=True)) == want


ArchiveModel.TestCase.settings = settings(max_examples=25, stateful_step_count=15, deadline=None,
                                          suppress_health_check=[HealthCheck.too_slow])
TestArchiveModel = ArchiveModel.TestCase
