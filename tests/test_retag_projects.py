"""Remote retag of an archive holding jobs of several hub/group/projects (emulator, real
sockets): each job's PUT goes to the project the job ran in."""

from __future__ import annotations

import pytest

import jobarchive
from jobarchive import Archive
from jobarchive.demo import bell_and_ghz
from jobarchive.qobj import qobj_from_circuits

emulator = pytest.importorskip("jobarchive.emulator")
Emulator = emulator.Emulator
OTHER = {"hub": "ibm-q-research", "group": "uni-lab", "project": "qc-course"}


def _two_project_archive(emu, arc):
    pa = jobarchive.connect(emu.url, emu.token)
    pb = jobarchive.connect(emu.url, emu.token, **OTHER)
    sim = next(b for b in pb.backends() if b.configuration().get("simulator"))
    b_jobs = [sim.run(qobj_from_circuits(bell_and_ghz(), shots=10), job_name=f"B-{i}").job_id()
              for i in range(3)]
    emu.advance(3600)
    assert not arc.sync(pa, progress=False).failed
    assert not arc.sync(pb, progress=False).failed
    a_jobs = [d["id"] for d in emu.job_docs() if d["id"] not in b_jobs]
    return pa, a_jobs, b_jobs


@pytest.mark.parametrize("read_server_tags", [False, True])
def test_remote_retag_sends_each_job_to_its_own_project(tmp_path, read_server_tags):
    with Emulator(seed_jobs=4, seed=1, time_scale=600.0) as emu, Archive(tmp_path / "a") as arc:
        pa, a_jobs, b_jobs = _two_project_archive(emu, arc)
        frame = arc.retag(a_jobs + b_jobs, additional_tags=["paper"], provider=pa,
                          progress=False, read_server_tags=read_server_tags)
        assert frame["outcome"].tolist() == ["updated"] * len(a_jobs + b_jobs), \
            frame["error"].tolist()
        for job_id in a_jobs + b_jobs:
            assert "paper" in emu.job_doc(job_id)["tags"], job_id
            assert "paper" in arc.record(job_id)["tags"]


def test_dry_run_reads_each_jobs_tags_in_its_own_project(tmp_path):
    with Emulator(seed_jobs=2, seed=1, time_scale=600.0) as emu, Archive(tmp_path / "a") as arc:
        pa, a_jobs, b_jobs = _two_project_archive(emu, arc)
        emu.update_job(b_jobs[0], tags=["colleague"])  # changed on the server since the sync
        plan = arc.retag(b_jobs, additional_tags=["paper"], provider=pa, dry_run=True,
                         progress=False, read_server_tags=True)
        row = plan.set_index("job_id").loc[b_jobs[0]]
        assert row["server_tags"] == ["colleague"]
        assert set(row["new_tags"]) == {"colleague", "paper"}


def test_a_project_the_account_cannot_use_is_refused_without_a_request(tmp_path):
    with Emulator(seed_jobs=3, seed=1, time_scale=600.0) as emu, Archive(tmp_path / "a") as arc:
        pa, a_jobs, b_jobs = _two_project_archive(emu, arc)
        pa.projects = [("ibm-q", "open", "main")]  # as if the account had left qc-course
        emu.reset_stats()
        frame = arc.retag(a_jobs + b_jobs, additional_tags=["paper"], provider=pa,
                          progress=False).set_index("job_id")
        assert (frame.loc[a_jobs, "outcome"] == "updated").all()
        assert (frame.loc[b_jobs, "outcome"] == "refused").all()
        error = frame.loc[b_jobs[0], "error"]
        assert "ibm-q-research/uni-lab/qc-course" in error and "connect" in error
        assert emu.stats().get("job_update", 0) == len(a_jobs)
        for job_id in b_jobs:
            assert "paper" not in (emu.job_doc(job_id).get("tags") or [])
            assert "paper" not in arc.record(job_id)["tags"]


def test_a_job_of_an_unreachable_project_with_nothing_to_change_is_unchanged(tmp_path):
    with Emulator(seed_jobs=2, seed=1, time_scale=600.0) as emu, Archive(tmp_path / "a") as arc:
        pa, a_jobs, b_jobs = _two_project_archive(emu, arc)
        arc.retag(b_jobs, additional_tags=["paper"], progress=False)  # archive only
        pa.projects = [("ibm-q", "open", "main")]
        frame = arc.retag(b_jobs, additional_tags=["paper"], provider=pa, progress=False)
        assert (frame["outcome"] == "unchanged").all()
