"""Model-based test with a live server: random sequences of add, add_many, sync against the
emulator (plain and ``full=True``), jobs submitted elsewhere, remote edits, the server clock moving, retag (local and
remote), query, counts and reopen, each step checked against a plain in-memory model.

The model is a dict ``job_id -> to_dict()`` of what the archive must hold. For local jobs it
follows ``add`` semantics; for synced jobs it is the server's view at the moment sync had to
read it (``IBMQJob.from_server(emu.job_doc(id))`` plus ``emu.result_of``/``emu.qobj_of``):
a sync discovers new jobs, re-reads jobs whose status moved, and ``full=True`` also takes
names and tags edited elsewhere. The emulator clock is frozen (a tiny ``time_scale``) and
only moves with ``emu.advance``, so the model can say exactly what sync must see.

``JOBARCHIVE_MODEL_EXAMPLES`` / ``JOBARCHIVE_MODEL_STEPS`` make the run longer (CI: 10 x 15).
"""

from __future__ import annotations

import os
import warnings
from functools import lru_cache

import hypothesis.strategies as st
import pytest
from archive_model import ArchiveMachine
from hypothesis import HealthCheck, settings
from hypothesis.stateful import initialize, precondition, rule

import jobarchive
from jobarchive import IBMQJob
from jobarchive.job import apply_tag_update
from jobarchive.status import API_FINAL_STATUSES
from jobarchive.sync import QOBJ_ONLY_STATUSES

emulator = pytest.importorskip("jobarchive.emulator")

EXAMPLES = int(os.environ.get("JOBARCHIVE_MODEL_EXAMPLES", "10"))
STEPS = int(os.environ.get("JOBARCHIVE_MODEL_STEPS", "15"))

LOCAL_IDS = st.sampled_from([f"loc{i:03d}" for i in range(8)])
TAG = st.sampled_from(["a", "b", "exp1", "vqe", "ibmq_jobset_1", "ü"])
TAGS = st.lists(TAG, max_size=3, unique=True)
OPS = st.fixed_dictionaries({
    "replacement_tags": st.one_of(st.none(), TAGS),
    "additional_tags": TAGS,  # always given (maybe empty), so an operation is never empty
    "removal_tags": st.one_of(st.none(), TAGS),
})


@st.composite
def local_records(draw):
    jid = draw(LOCAL_IDS)
    status = draw(st.sampled_from(["COMPLETED", "CANCELLED", "ERROR_RUNNING_JOB"]))
    rec = {"job_id": jid, "creation_date": f"2023-0{1 + int(jid[3:])}-11T00:00:00Z",
           "status": status, "name": draw(st.one_of(st.none(), st.text(max_size=5))),
           "tags": draw(TAGS), "backend_name": "ibmq_lima", "share_level": "none"}
    if status == "COMPLETED" and draw(st.booleans()):
        rec["result"] = {"results": [{"shots": 4, "success": True,
                                      "data": {"counts": {"0x0": draw(st.integers(0, 4))}}}]}
        rec["qobj"] = {"experiments": [{}]}
    return rec


@lru_cache(maxsize=1)
def _bell_qobj() -> dict:
    from qiskit import QuantumCircuit

    from jobarchive.qobj import qobj_from_circuits

    qc = QuantumCircuit(2, 2, name="bell")
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    return qobj_from_circuits([qc], shots=64, qobj_id="model-bell", seed_simulator=1)


class LiveArchiveModel(ArchiveMachine):
    """The archive must always equal the model; the server must agree on remote retags."""

    @initialize(seed=st.integers(0, 50))
    def setup(self, seed):
        self.open_archive()
        self.emu = emulator.Emulator(seed_jobs=8, seed=seed, seed_active=3, time_scale=1e-6).start()
        self.provider = jobarchive.connect(self.emu.url, self.emu.token)
        self.server_ids = [d["id"] for d in self.emu.job_docs()]

    def teardown(self):
        if hasattr(self, "emu"):
            self.emu.stop()
            self.provider.api_client.close()
        super().teardown()

    # --- the model's view of the server ----------------------------------------------

    def _server_view(self, job_id: str) -> dict:
        view = IBMQJob.from_server(self.emu.job_doc(job_id)).to_dict()
        if view["status"] == "COMPLETED":
            view["result"] = self.emu.result_of(job_id)
            view["qobj"] = self.emu.qobj_of(job_id)
        elif view["status"] == "ERROR_RUNNING_JOB":  # sync archives the partial result
            view["result"] = self.emu.result_of(job_id)
            view["qobj"] = self.emu.qobj_of(job_id)  # and what ran
        elif view["status"] in QOBJ_ONLY_STATUSES:  # final without running: what was submitted
            view["qobj"] = self.emu.qobj_of(job_id)
        return view

    def _synced(self) -> list[str]:
        return [j for j in self.server_ids if j in self.model]

    # --- local writes ----------------------------------------------------------------

    @rule(rec=local_records())
    def add(self, rec):
        self.arc.add(rec)
        self._apply(rec)

    @rule(recs=st.lists(local_records(), max_size=5, unique_by=lambda r: r["job_id"]))
    def add_many(self, recs):
        assert self.arc.add_many(recs) == len(recs)
        for rec in recs:
            self._apply(rec)

    # --- the server ------------------------------------------------------------------

    @rule(seconds=st.sampled_from([0, 30, 90, 900, 7200]))
    def server_clock_moves(self, seconds):
        self.emu.advance(seconds)

    @rule(data=st.data(), tags=TAGS, rename=st.booleans())
    def remote_edit(self, data, tags, rename):
        job_id = data.draw(st.sampled_from(self.server_ids))
        changes = {"tags": tags}
        if rename:
            changes["name"] = data.draw(st.text(max_size=5))
        self.emu.update_job(job_id, **changes)

    @rule(name=st.text(max_size=5), tags=TAGS, backend=st.sampled_from(["ibmq_qasm_simulator", "ibmq_lima"]))
    def submit(self, name, tags, backend):
        """A job submitted elsewhere: the next sync must discover it past its cursor."""
        if len(self.server_ids) >= 16:
            return
        job = self.provider.get_backend(backend).run(_bell_qobj(), job_name=name, job_tags=tags)
        self.server_ids.append(job.job_id())

    @rule(full=st.booleans())
    def sync(self, full):
        before = {j: self.model[j]["status"] for j in self._synced()}
        report = self.arc.sync(self.provider, progress=False, full=full, workers=2)
        for job_id in self.server_ids:
            old = before.get(job_id)
            view = self._server_view(job_id)
            if old is None or old not in API_FINAL_STATUSES:
                self.model[job_id] = view  # discovered, or not final: refreshed
            elif full:
                rec = dict(self.model[job_id], tags=view["tags"], name=view["name"])
                self.model[job_id] = IBMQJob.from_dict(rec).to_dict()
        # Server jobs never fail to sync; only archived jobs the server does not know may.
        assert set(report.failed) <= {j for j in self.model if j not in self.server_ids}, report.failed

    # --- retag -----------------------------------------------------------------------

    @rule(data=st.data(), op=OPS)
    def retag_local(self, data, op):
        if not self.model:
            return
        ids = data.draw(st.lists(st.sampled_from(sorted(self.model)), min_size=1, max_size=4,
                                 unique=True))
        with warnings.catch_warnings():  # 'still running ... the next sync undoes it': the model's too
            warnings.filterwarnings("ignore", ".*retagged locally are still running", UserWarning)
            frame = self.arc.retag(ids, provider=None, progress=False, **op)
        for job_id in ids:
            new = apply_tag_update(self.model[job_id]["tags"], op["replacement_tags"],
                                   op["additional_tags"], op["removal_tags"])
            if set(new) != set(self.model[job_id]["tags"]):
                self.model[job_id] = IBMQJob.from_dict(dict(self.model[job_id], tags=new)).to_dict()
        assert set(frame["outcome"]) <= {"updated", "unchanged"}

    @precondition(lambda self: bool(self._synced()))
    @rule(data=st.data(), op=OPS, with_local=st.booleans())
    def retag_remote(self, data, op, with_local):
        ids = data.draw(st.lists(st.sampled_from(self._synced()), min_size=1, max_size=4,
                                 unique=True))
        local = [j for j in self.model if j not in self.server_ids]
        if with_local and local:
            ids.append(local[0])  # unknown to the server: refused, the others go on
        server_before = {j: list(self.emu.job_doc(j).get("tags") or []) for j in self.server_ids}
        frame = self.arc.retag(ids, provider=self.provider, progress=False, workers=2, **op)
        outcome = dict(zip(frame["job_id"], frame["outcome"], strict=True))
        for job_id in ids:
            old = self.model[job_id]["tags"]
            new = apply_tag_update(old, op["replacement_tags"], op["additional_tags"],
                                   op["removal_tags"])
            if set(new) == set(old):
                assert outcome[job_id] == "unchanged"
            elif job_id in self.server_ids:
                assert outcome[job_id] == "updated", frame.to_dict("records")
                echoed = (self.emu.job_doc(job_id).get("tags") or [])
                assert set(echoed) == set(new)
                server_before[job_id] = list(echoed)
                self.model[job_id] = IBMQJob.from_dict(dict(self.model[job_id], tags=echoed)).to_dict()
            else:
                assert outcome[job_id] == "refused"
        # nothing else changed on the server
        assert {j: list(self.emu.job_doc(j).get("tags") or []) for j in self.server_ids} == server_before

    # --- reads -----------------------------------------------------------------------

    @rule(tags=TAGS, op=st.sampled_from(["AND", "OR"]))
    def query_by_tags(self, tags, op):
        self.check_query_by_tags(tags, op)

    @rule(status=st.sampled_from(["DONE", "QUEUED", "RUNNING", "CANCELLED", "ERROR"]))
    def query_by_status(self, status):
        got = set(self.arc.query(status=status)["job_id"])
        frame = self.arc.query()
        want = set(frame[frame["status"] == status]["job_id"])
        assert got == want
        assert set(frame["job_id"]) == set(self.model)

    @rule()
    def counts_match(self):
        frame = self.arc.counts()
        want = sorted((j, e, c) for j, r in self.model.items() if r["result"]
                      for e, res in enumerate(r["result"]["results"])
                      for c in ((res.get("data") or {}).get("counts") or {}).values())
        assert sorted(zip(frame["job_id"], frame["experiment"], frame["count"], strict=True)) == want


LiveArchiveModel.TestCase.settings = settings(
    max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
TestLiveArchiveModel = LiveArchiveModel.TestCase
