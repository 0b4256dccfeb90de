"""Bulk retag: update_tags semantics, dry run, events, journal; local and against the emulator."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from retag_child import make_jobs

from jobarchive import Archive, emulator
from jobarchive.exceptions import ArchiveLockedError, IBMQJobInvalidStateError, JobNotFoundError
from jobarchive.job import apply_tag_update
from jobarchive.retag import PLAN_COLUMNS, RESULT_COLUMNS, campaign_name

CHILD = Path(__file__).with_name("retag_child.py")


@pytest.fixture
def filled(arc):
    jobs = make_jobs(30, seed=1)
    arc.add_many(jobs)
    return arc, {j["job_id"]: j for j in jobs}


def _snapshot(path: Path) -> dict[str, str]:
    """Hash of every file of an archive (the shared-memory index of WAL aside)."""
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file() and not p.name.endswith("-shm")}


def test_dry_run_returns_plan_and_writes_nothing(filled):
    arc, jobs = filled
    before = _snapshot(arc.path)
    plan = arc.retag(arc.query(), replacement_tags=["r1"], additional_tags=["a"],
                     removal_tags=["r1", "ibmq_jobset_abc"], dry_run=True)
    assert list(plan.columns) == list(PLAN_COLUMNS)
    assert plan.attrs["summary"]["jobs"] == len(jobs)
    assert len(plan) == len(jobs)
    for row in plan.itertuples():
        old = jobs[row.job_id]["tags"]
        assert row.old_tags == old
        assert row.new_tags == apply_tag_update(old, ["r1"], ["a"], ["r1", "ibmq_jobset_abc"])
        # jobset tags survive replacement and removal
        assert ("ibmq_jobset_abc" in row.new_tags) == ("ibmq_jobset_abc" in old)
        assert set(row.added) == set(row.new_tags) - set(old)
        assert set(row.removed) == set(old) - set(row.new_tags)
    assert _snapshot(arc.path) == before
    assert arc.index.events() == []


def test_local_retag_semantics_events_and_payloads_kept(filled):
    arc, jobs = filled
    ids = sorted(jobs)
    done = next(j for j in ids if jobs[j]["status"] == "COMPLETED")
    before_done = arc.get(done).to_dict()
    blob_files = set(arc.blobs.files())
    frame = arc.retag(ids, additional_tags=["campaign-7"], removal_tags=["exp1"], progress=False)
    assert list(frame.columns) == list(RESULT_COLUMNS)
    assert frame.attrs["summary"]["updated"] == len(ids)
    assert set(frame["outcome"]) == {"updated"} and set(frame["source"]) == {"local"}
    for job_id in ids:
        expected = apply_tag_update(jobs[job_id]["tags"], None, ["campaign-7"], ["exp1"])
        assert arc.get(job_id).tags() == expected
    # only the tags changed; the payloads stay in their blobs and no blob is written
    after_done = arc.get(done).to_dict()
    assert after_done["result"] == before_done["result"] and after_done["qobj"] == before_done["qobj"]
    assert {k: v for k, v in after_done.items() if k != "tags"} == \
           {k: v for k, v in before_done.items() if k != "tags"}
    assert set(arc.blobs.files()) == blob_files
    assert arc.audit()["ok"].all()
    # tag filters see the new tags
    assert set(arc.query(job_tags=["campaign-7"])["job_id"]) == set(ids)
    assert arc.query(job_tags=["exp1"]).empty
    # history: one tags event per job, source local
    hist = arc.history(done)
    tag_events = hist[hist["kind"] == "tags"]
    assert len(tag_events) == 1
    event = tag_events.iloc[0]
    assert event["source"] == "local"
    assert json.loads(event["old"]) == jobs[done]["tags"]
    assert json.loads(event["new"]) == arc.get(done).tags()
    # a re-run is a no-op: nothing changes, no new event
    events = len(arc.index.events())
    again = arc.retag(ids, additional_tags=["campaign-7"], removal_tags=["exp1"], progress=False)
    assert set(again["outcome"]) == {"unchanged"}
    assert len(arc.index.events()) == events


def test_replacement_and_clear(filled):
    arc, jobs = filled
    ids = sorted(jobs)[:5]
    arc.retag(ids, replacement_tags=[], progress=False)
    for job_id in ids:
        assert arc.get(job_id).tags() == [t for t in jobs[job_id]["tags"]
                                          if t.startswith("ibmq_jobset_")]
    # a non-list replacement is ignored, as upstream does
    frame = arc.retag(ids, replacement_tags="x", additional_tags=["y"], progress=False)
    assert all("x" not in tags and "y" in tags for tags in frame["new_tags"])


def test_bad_input_writes_nothing(filled):
    arc, jobs = filled
    before = _snapshot(arc.path)
    with pytest.raises(IBMQJobInvalidStateError, match="none of the parameters"):
        arc.retag(sorted(jobs))
    with pytest.raises(IBMQJobInvalidStateError, match="list or strings"):
        arc.retag(sorted(jobs), additional_tags=[1])
    with pytest.raises(JobNotFoundError):
        arc.retag([*sorted(jobs), "nope"], additional_tags=["z"], progress=False)
    assert _snapshot(arc.path) == before


def test_lock_is_taken(filled):
    arc, jobs = filled
    with arc.lock(), pytest.raises(ArchiveLockedError):
        arc.retag(sorted(jobs), additional_tags=["z"], progress=False)
    # a dry run needs no lock
    with arc.lock():
        assert len(arc.retag(sorted(jobs), additional_tags=["z"], dry_run=True)) == len(jobs)


def test_thousands_of_jobs_in_batches(arc):
    jobs = make_jobs(2500, seed=3, payloads=False)
    arc.add_many(jobs)
    frame = arc.retag(arc.query(), additional_tags=["bulk"], progress=False, batch_size=700)
    assert (frame["outcome"] == "updated").all()
    assert len(arc.query(job_tags=["bulk"])) == 2500
    assert sum(1 for e in arc.index.events() if e[2] == "tags") == 2500


# --- against the emulator ------------------------------------------------------------------



def _put_count(emu) -> int:
    """PUT {P}/Jobs/{id} requests the emulator served."""
    return emu.stats().get("job_update", 0)


@pytest.fixture
def server(tmp_path):
    import jobarchive

    with emulator.Emulator(seed_jobs=40, seed=5) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        arc = Archive(tmp_path / "remote.jobarchive")
        arc.sync(provider, progress=False)
        try:
            yield emu, provider, arc
        finally:
            arc.close()


def test_remote_retag_matches_server(server):
    emu, provider, arc = server
    ids = list(arc.query(descending=False)["job_id"])
    assert ids
    emu.reset_stats()
    frame = arc.retag(ids, additional_tags=["remote-a"], removal_tags=["exp1"],
                      provider=provider, progress=False, workers=4)
    changed = int((frame["outcome"] == "updated").sum())
    assert changed == len(ids) and set(frame["source"]) == {"remote"}
    assert _put_count(emu) == changed
    for job_id in ids:
        assert sorted(emu.job_doc(job_id).get("tags") or []) == sorted(arc.get(job_id).tags())
        assert "remote-a" in arc.get(job_id).tags()
    hist = arc.history(ids[0])
    assert hist[hist["kind"] == "tags"].iloc[-1]["source"] == "remote"
    # a re-run sends nothing
    emu.reset_stats()
    again = arc.retag(ids, additional_tags=["remote-a"], removal_tags=["exp1"],
                      provider=provider, progress=False)
    assert set(again["outcome"]) == {"unchanged"} and _put_count(emu) == 0


def test_refused_jobs_reported_others_go_on(server, tmp_path):
    emu, provider, arc = server
    ids = list(arc.query(descending=False)["job_id"])[:6]
    # a job the server does not know: archived from elsewhere
    ghost = arc.record(ids[0])
    ghost["job_id"] = "ffffffffffffffffffffffff"
    ghost["qobj"] = ghost["result"] = None
    arc.add(ghost)
    frame = arc.retag([*ids, ghost["job_id"]], additional_tags=["ok"], provider=provider,
                      progress=False)
    refused = frame[frame["outcome"] == "refused"]
    assert list(refused["job_id"]) == [ghost["job_id"]]
    assert refused.iloc[0]["error"]  # the server's reason
    assert "ok" not in arc.get(ghost["job_id"]).tags()  # not recorded locally
    assert set(frame[frame["job_id"] != ghost["job_id"]]["outcome"]) == {"updated"}
    for job_id in ids:
        assert "ok" in (emu.job_doc(job_id).get("tags") or []) and "ok" in arc.get(job_id).tags()


def _start_child(path: Path, emu, op: dict, batch_size: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, str(CHILD), str(path), emu.url, emu.token,
                             json.dumps({**op, "batch_size": batch_size})],
                            stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(
                                filter(None, [str(CHILD.parent), os.environ.get("PYTHONPATH")]))})
    assert proc.stdout.readline().strip() == "READY"
    return proc


def test_sigkill_during_remote_retag_then_rerun(tmp_path, campaign_stats, count_tag_updates):
    """Kill retag campaigns at random points, several times each (every run resumes the
    last); a final re-run leaves server and archive equal, each change applied once.

    ``JOBARCHIVE_RETAG_KILLS`` (default 9) sets the number of kill points, three per campaign.
    """
    import jobarchive

    rng = random.Random(int(os.environ.get("JOBARCHIVE_RETAG_SEED", "7")))
    kills = int(os.environ.get("JOBARCHIVE_RETAG_KILLS", "9"))
    per_campaign = 3
    with emulator.Emulator(seed_jobs=120, seed=9, latency=0.002) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        path = tmp_path / "kill.jobarchive"
        with Archive(path) as arc:
            arc.sync(provider, progress=False)
            ids = list(arc.query(descending=False)["job_id"])
        applied = count_tag_updates(emu)
        campaigns = [{"additional_tags": [f"k{n}"], "removal_tags": ["exp1"]}
                     for n in range(max(1, -(-kills // per_campaign)))]
        done_kills = 0
        for op in campaigns:
            with Archive(path) as arc:
                expected = {j: apply_tag_update(arc.get(j).tags(), None, op["additional_tags"],
                                                op["removal_tags"]) for j in ids}
                changing = {j for j in ids if set(expected[j]) != set(arc.get(j).tags())}
            emu.reset_stats()
            applied.clear()
            n = min(per_campaign, kills - done_kills)
            targets = sorted(rng.sample(range(1, len(changing)), n))
            for target in targets:
                proc = _start_child(path, emu, op, rng.choice([5, 12, 30]))
                while proc.poll() is None and _put_count(emu) < target:
                    time.sleep(0.001)
                time.sleep(rng.uniform(0, 0.03))  # land in journal and archive writes too
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                done_kills += 1
                # Let the server finish requests the dead client left in flight: a re-run
                # that reads a job before its pending PUT lands cannot know it is coming.
                time.sleep(0.2)
                with Archive(path) as arc:
                    assert arc.audit()["ok"].all()
            with Archive(path) as arc:
                frame = arc.retag(ids, provider=provider, progress=False, **op)
                assert (frame["outcome"] != "refused").all()
                # the campaign's journal is empty once it finished
                assert arc.index.journal_get(campaign_name(None, *op.values())) == {}
                for job_id in ids:
                    assert set(arc.get(job_id).tags()) == set(expected[job_id])
                    assert set(emu.job_doc(job_id).get("tags") or []) == set(expected[job_id])
                hist = arc.history(ids[0])
                assert (hist[hist["kind"] == "tags"]["source"] == "remote").all()
            # each change reached the server exactly once, and nothing else was changed
            assert applied == dict.fromkeys(changing, 1), (op, targets)
            # PUT requests: one per change, plus at most a few each kill cut in half
            assert len(changing) <= _put_count(emu) <= len(changing) + 8 * len(targets)
        assert done_kills == kills
    key = "SIGKILL points, retag (exec)"
    campaign_stats[key] = campaign_stats.get(key, 0) + done_kills


def test_remote_retag_under_server_faults_then_rerun(server):
    """5xx and dropped connections: what fails is reported, a re-run finishes, and server
    and archive agree."""
    import jobarchive

    emu, _, arc = server
    flaky = jobarchive.connect(emu.url, emu.token, max_retries=1, backoff_factor=0.0)
    ids = list(arc.query(descending=False)["job_id"])
    emu.set_faults({"rate": 0.4, "kinds": ["500", "503", "drop"], "seed": 3})
    first = arc.retag(ids, additional_tags=["flaky"], provider=flaky, progress=False)
    emu.set_faults(None)
    refused = first[first["outcome"] == "refused"]
    assert len(refused)  # the fault rate makes some fail even after the retry
    assert refused["error"].str.len().gt(0).all()
    for job_id in first[first["outcome"] == "updated"]["job_id"]:
        assert "flaky" in (emu.job_doc(job_id).get("tags") or [])
    second = arc.retag(ids, additional_tags=["flaky"], provider=flaky, progress=False)
    assert (second["outcome"] != "refused").all()
    assert set(second[second["outcome"] == "updated"]["job_id"]) == set(refused["job_id"])
    for job_id in ids:
        assert sorted(emu.job_doc(job_id).get("tags") or []) == sorted(arc.get(job_id).tags())
        assert "flaky" in arc.get(job_id).tags()


def test_retag_of_real_recorded_jobs_changes_only_tags(real_corpus, arc):
    from jobarchive import IBMQJob

    jobs = []
    for entry in real_corpus:
        try:
            jobs.append(IBMQJob.from_server(entry["document"]))
        except ValueError:
            continue  # anonymised placeholders the archive refuses (see test_realdata)
    arc.add_many(jobs)
    ids = list(arc.query()["job_id"])
    before = {j: arc.get(j).to_dict() for j in ids}
    with pytest.warns(UserWarning, match="2 of the jobs retagged locally are still running"):
        frame = arc.retag(ids, replacement_tags=["real"], additional_tags=["ibmq_jobset_keep"],
                          progress=False)
    assert set(frame["outcome"]) == {"updated"}
    for job_id in ids:
        after = arc.get(job_id).to_dict()
        old_jobset = [t for t in before[job_id]["tags"] if t.startswith("ibmq_jobset_")]
        assert set(after.pop("tags")) == {"real", "ibmq_jobset_keep", *old_jobset}
        before[job_id].pop("tags")
        assert after == before[job_id]
    assert arc.audit()["ok"].all()
