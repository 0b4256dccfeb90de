"""Bulk retag against a plain-Python set model: whatever the jobs' tags and the operations
(unicode, commas, spaces, case differences, duplicates, jobset tags), a local retag and its
undo leave exactly the tags a set computation gives, in the records, the tag filters,
``tag_counts`` and the events table."""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from retag_child import make_jobs

import jobarchive
from jobarchive import Archive
from jobarchive.emulator import Emulator
from jobarchive.retag import campaign_name, undo

JOBSET = "ibmq_jobset_7d1c_0"
# Tags that differ only in case, spacing, commas, unicode normalization or a jobset prefix.
ALPHABET = ["exp1", "Exp1", "EXP1", "a,b", "a", "b", " a", "a ", "a b", "", "é", "e\u0301",
            "量子", "🧪", "x\ty", "'; DROP TABLE jobs; --", "ibmq_jobset_", JOBSET]

tag_lists = st.lists(st.sampled_from(ALPHABET), max_size=5)
operations = st.tuples(
    st.one_of(st.none(), tag_lists),  # replacement: only a list replaces ([] clears)
    st.one_of(st.none(), tag_lists),
    st.one_of(st.none(), tag_lists),
).filter(lambda op: op != (None, None, None))


def model(old: list[str], replacement, additional, removal) -> set[str]:
    tags = set(old)
    if replacement is not None:
        tags = set(replacement) | {t for t in tags if t.startswith("ibmq_jobset_")}
    tags |= set(additional or [])
    return tags - {t for t in removal or [] if not t.startswith("ibmq_jobset_")}


def check(arc: Archive, expected: dict[str, set[str]]) -> None:
    for job_id, tags in expected.items():
        got = arc.get(job_id).tags()
        assert set(got) == tags, job_id
    frame = arc.query()
    assert {r.job_id: set(r.tags) for r in frame.itertuples()} == expected
    counts = Counter(t for tags in expected.values() for t in tags)
    assert arc.index.tag_counts() == dict(counts)
    for tag in ALPHABET:
        assert set(arc.query(job_tags=[tag])["job_id"]) == \
            {j for j, tags in expected.items() if tag in tags}, tag
    assert arc.index.tag_count_mismatches() == []


@settings(deadline=None, suppress_health_check=list(HealthCheck))
@given(start=st.lists(tag_lists, min_size=1, max_size=8),
       runs=st.lists(st.tuples(st.lists(st.integers(0, 7), max_size=8), operations),
                     min_size=1, max_size=3))
def test_retag_matches_set_model(start, runs):
    jobs = make_jobs(len(start), seed=5, payloads=False)
    for job, tags in zip(jobs, start, strict=True):
        job["tags"] = tags
    ids = [j["job_id"] for j in jobs]
    expected = {j["job_id"]: set(j["tags"]) for j in jobs}
    with tempfile.TemporaryDirectory() as tmp, Archive(Path(tmp) / "a") as arc:
        arc.add_many(jobs)
        last_changed: dict[str, tuple[set[str], set[str]]] = {}
        last_campaign = None
        for picks, op in runs:
            chosen = [ids[i] for i in picks if i < len(ids)]
            if not chosen:
                continue
            events_before = len(arc.index.events())
            frame = arc.retag(chosen, *op, progress=False)
            changed = {}
            for job_id in dict.fromkeys(chosen):
                new = model(expected[job_id], *op)
                if new != expected[job_id]:
                    changed[job_id] = (expected[job_id], new)
                expected[job_id] = new
            outcome = dict(zip(frame["job_id"], frame["outcome"], strict=True))
            for job_id in changed:  # a job written holds each tag once
                tags = arc.get(job_id).tags()
                assert len(tags) == len(set(tags)), tags
            assert {j for j, o in outcome.items() if o == "updated"} == set(changed)
            # One tag event per changed job, saying what the tags were and became.
            events = [e for e in arc.index.events()[events_before:] if e[2] == "tags"]
            assert sorted(e[0] for e in events) == sorted(changed)
            for job_id, _, _, old, new, source, who in events:
                assert (set(json.loads(old)), set(json.loads(new))) == changed[job_id]
                assert source == "local" and who
            check(arc, expected)
            if changed:
                # Re-running an operation adds to its undo log (that is how an interrupted
                # run resumes): undo then reverts both, each job to its first "before".
                if campaign_name(*op) != last_campaign:
                    last_changed = {}
                last_campaign = campaign_name(*op)
                for job_id, (old, new) in changed.items():
                    last_changed[job_id] = (last_changed.get(job_id, (old,))[0], new)
        if last_changed:  # undo reverts exactly the last run that changed something
            undo(arc, progress=False)
            for job_id, (old, new) in last_changed.items():
                # update_tags never removes a jobset tag, so neither can undo's operations
                expected[job_id] = old | {t for t in new - old if t.startswith("ibmq_jobset_")}
            check(arc, expected)


def test_5000_jobs_mixed_operations_undo_and_redo(tmp_path):
    import random

    rng = random.Random(11)
    jobs = make_jobs(5000, seed=6, payloads=False)
    for job in jobs:
        job["tags"] = rng.sample(ALPHABET, rng.randint(0, 6))
    ids = [j["job_id"] for j in jobs]
    expected = {j["job_id"]: set(j["tags"]) for j in jobs}
    with Archive(tmp_path / "a") as arc:
        arc.add_many(jobs)
        runs = [(rng.sample(ids, 3000), (None, ["campaign-7", "a,b"], ["exp1", " a"])),
                (rng.sample(ids, 2500), (["量子", "Exp1"], ["EXP1"], ["Exp1"])),
                (ids, (None, None, ["a,b", "é"]))]
        history = []
        for chosen, op in runs:
            history.append(dict(expected))
            arc.retag(chosen, *op, progress=False)
            for job_id in chosen:
                expected[job_id] = model(expected[job_id], *op)
            check(arc, expected)
        before_last = history[-1]
        after_last = dict(expected)
        undo(arc, progress=False)
        check(arc, before_last)
        undo(arc, progress=False)  # undoing the undo redoes the run
        check(arc, after_last)
        assert arc.audit()["ok"].all()


@pytest.fixture(scope="module")
def server():
    with Emulator(seed_jobs=6, seed=31) as emu:
        yield emu, jobarchive.connect(emu.url, emu.token)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(start=st.lists(tag_lists, min_size=6, max_size=6),
       colleague=st.lists(st.one_of(st.none(), tag_lists), min_size=6, max_size=6),
       runs=st.lists(operations, min_size=1, max_size=2))
def test_remote_retag_matches_set_model(server, start, colleague, runs):
    """On the server too, planning from the server's tags (`retag --remote`): a tag put
    there since the last sync is kept, and server and archive end up alike."""
    emu, provider = server
    ids = sorted(d["id"] for d in emu.job_docs())
    for job_id, tags in zip(ids, start, strict=True):
        emu.update_job(job_id, tags=tags)
    with tempfile.TemporaryDirectory() as tmp, Archive(Path(tmp) / "a") as arc:
        arc.sync(provider, full=True, progress=False)
        expected = {}
        for job_id, tags, theirs in zip(ids, start, colleague, strict=True):
            if theirs is not None:  # changed on the server since the sync
                emu.update_job(job_id, tags=theirs)
            expected[job_id] = set(tags if theirs is None else theirs)
        for op in runs:
            frame = arc.retag(ids, *op, provider=provider, read_server_tags=True,
                              progress=False)
            assert frame.attrs["summary"]["refused"] == 0
            expected = {j: model(tags, *op) for j, tags in expected.items()}
            assert {j: set(emu.job_doc(j).get("tags") or []) for j in ids} == expected
            check(arc, expected)
