"""Round trip, property-tested: ``arc.get(i).to_dict() == IBMQJob.from_dict(d).to_dict()``.

Generated jobs cover unicode names, 0-50 tags, missing and explicitly-null optional fields,
extra server fields of any JSON shape, date spellings in any offset, and results with many
experiments. ``HYPOTHESIS_PROFILE=long`` runs many more examples.
"""

from __future__ import annotations

import json
import string
import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import hypothesis.strategies as st
import pytest
from hypothesis import given

from jobarchive import Archive, IBMQJob
from jobarchive.record import KNOWN_KEYS

pytestmark = pytest.mark.terra046

API_STATUSES = ["CREATING", "CREATED", "TRANSPILING", "TRANSPILED", "VALIDATING", "VALIDATED",
                "PENDING_IN_QUEUE", "QUEUED", "RUNNING", "COMPLETED", "CANCELLED",
                "ERROR_CREATING_JOB", "ERROR_VALIDATING_JOB", "ERROR_RUNNING_JOB",
                "ERROR_TRANSPILING_JOB"]
ID_HEAD = string.ascii_letters + string.digits + "_-"

job_ids = st.builds(lambda h, t: h + t, st.sampled_from(ID_HEAD),
                    st.text(ID_HEAD + ".", max_size=30)).filter(lambda s: ".." not in s)
offsets = st.one_of(st.none(), st.just(UTC),
                    st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m))))


@st.composite
def iso_dates(draw) -> str:
    """One instant in one of the spellings users and servers write."""
    dt = draw(st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31)))
    tz = draw(offsets)
    if tz is not None:
        dt = dt.replace(tzinfo=tz)
    style = draw(st.sampled_from(["iso", "space", "ms", "Z"]))
    if style == "space":
        return dt.isoformat(sep=" ")
    if style == "ms":
        return dt.isoformat(timespec="milliseconds")
    if style == "Z" and tz is not None:
        return dt.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
    return dt.isoformat()


json_leaf = (st.none() | st.booleans() | st.integers() | st.text(max_size=10)
             | st.sampled_from([2 ** 63, -(2 ** 63) - 1, 2 ** 64 - 1, 3 ** 90])  # beyond int64
             | st.floats(allow_nan=False, allow_infinity=False))
json_values = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=12)
extra_keys = st.text(string.ascii_lowercase + "_", min_size=1, max_size=12).filter(
    lambda k: k not in KNOWN_KEYS)

exp_extra_keys = extra_keys.filter(lambda k: k not in ("shots", "success", "header", "data"))


@st.composite
def results(draw) -> dict:
    """A qiskit-shaped result dict with 1-40 experiments and hex counts."""
    n = draw(st.integers(1, 40))
    exps = []
    for _ in range(n):
        slots = draw(st.integers(1, 6))
        counts = draw(st.dictionaries(st.integers(0, 2 ** slots - 1).map(hex),
                                      st.integers(0, 10 ** 6), min_size=1, max_size=8))
        header = draw(st.sampled_from([{}, {"memory_slots": slots},
                                       {"memory_slots": slots, "creg_sizes": [["c", slots]]},
                                       {"name": "circ", "memory_slots": slots}]))
        exps.append({"shots": sum(counts.values()) or 1, "success": True, "header": header,
                     "data": {"counts": counts}, **draw(st.dictionaries(exp_extra_keys, json_values,
                                                                          max_size=2))})
    return {"backend_name": draw(st.text(max_size=12)), "backend_version": "1.0.0",
            "qobj_id": draw(st.text(max_size=8)), "job_id": draw(st.text(max_size=8)),
            "success": True, "date": draw(st.sampled_from(["2021-05-04T11:35:02.660124",
                                                            "2019-05-29T16:16:10Z"])),
            "results": exps}


OPTIONAL = {
    "backend_name": st.text(max_size=20),
    "kind": st.sampled_from(["q-object", "q-object-external-storage", "q-circuit", "runtime"]),
    "name": st.text(max_size=40),  # any unicode except lone surrogates
    "tags": st.lists(st.text(max_size=15), max_size=50),
    "time_per_step": st.dictionaries(st.sampled_from(API_STATUSES), iso_dates(), max_size=7),
    "run_mode": st.sampled_from(["fairshare", "dedicated"]),
    "share_level": st.sampled_from(["global", "hub", "group", "project", "none"]),
    "client_info": st.fixed_dictionaries({"name": st.just("qiskit-terra,qiskit-ibmq-provider"),
                                          "version": st.just("0.16.1,0.11.1")}),
    "experiment_id": st.text(max_size=12),
    "error": st.fixed_dictionaries({"code": st.integers(1000, 9999), "message": st.text(max_size=20)}),
    "info_queue": st.fixed_dictionaries({"position": st.integers(0, 500), "status": st.just("PENDING_IN_QUEUE")}),
    "qobj": st.fixed_dictionaries({"qobj_id": st.text(max_size=6), "type": st.just("QASM"),
                                   "config": st.fixed_dictionaries({"shots": st.integers(1, 8192)}),
                                   "experiments": st.lists(st.just({"instructions": []}), max_size=5)}),
    "result": results(),
}


@st.composite
def jobs(draw, job_id=None) -> dict:
    """A to_dict()-shaped job: required fields, any subset of the optional ones (present,
    absent or explicitly null), and extra server fields."""
    status = draw(st.sampled_from(API_STATUSES))
    rec = {"job_id": job_id if job_id is not None else draw(job_ids),
           "creation_date": draw(iso_dates()),
           "status": draw(st.sampled_from([status, status.lower(), status.title()]))}
    for key, strategy in OPTIONAL.items():
        choice = draw(st.sampled_from(["absent", "null", "value", "value"]))
        if choice == "null":
            rec[key] = None
        elif choice == "value":
            rec[key] = draw(strategy)
    rec.update(draw(st.dictionaries(extra_keys, json_values, max_size=4)))
    return rec


def _fresh_archive() -> tuple[Archive, tempfile.TemporaryDirectory]:
    tmp = tempfile.TemporaryDirectory()
    return Archive(Path(tmp.name) / "rt.jobarchive"), tmp


@given(rec=jobs())
def test_archive_round_trip(rec):
    expected = IBMQJob.from_dict(rec).to_dict()
    arc, tmp = _fresh_archive()
    try:
        arc.add(rec)
        got = arc.get(rec["job_id"]).to_dict()
        assert got == expected
        assert json.loads(json.dumps(got)) == got  # JSON-only types
        assert list(got)[:16] == list(KNOWN_KEYS)  # canonical key order, extras after
        row = arc.query().iloc[0]
        assert row["job_id"] == rec["job_id"] and row["api_status"] == rec["status"].upper()
        assert row["creation_date"] == datetime.fromisoformat(expected["creation_date"])
        assert list(row["tags"]) == expected["tags"]
        if expected["result"] is not None:
            counts = arc.counts([rec["job_id"]])
            want = sorted((i, k, c) for i, e in enumerate(expected["result"]["results"])
                          for k, c in e["data"]["counts"].items())
            assert sorted(zip(counts["experiment"], counts["key"], counts["count"], strict=True)) == want
    finally:
        arc.close()
        tmp.cleanup()


@given(rec=jobs())
def test_from_dict_to_dict_is_idempotent(rec):
    once = IBMQJob.from_dict(rec).to_dict()
    assert IBMQJob.from_dict(once).to_dict() == once
    assert IBMQJob.from_dict(json.loads(json.dumps(once))).to_dict() == once
    # The dates are the one canonical spelling, the same instant as given.
    assert once["creation_date"].endswith("Z") and len(once["creation_date"]) == 27
    given_dt = datetime.fromisoformat(rec["creation_date"].replace("Z", "+00:00"))
    if given_dt.tzinfo is None:
        given_dt = given_dt.replace(tzinfo=UTC)
    assert datetime.fromisoformat(once["creation_date"]) == given_dt


@given(recs=st.lists(jobs(), min_size=1, max_size=8, unique_by=lambda r: r["job_id"]))
def test_add_many_round_trip_and_reopen(recs):
    arc, tmp = _fresh_archive()
    try:
        assert arc.add_many(recs, batch_size=3) == len(recs)
        arc.close()
        arc = Archive(Path(tmp.name) / "rt.jobarchive", create=False)
        assert len(arc) == len(recs)
        for rec in recs:
            assert rec["job_id"] in arc
            assert arc.get(rec["job_id"]).to_dict() == IBMQJob.from_dict(rec).to_dict()
        assert arc.audit()["ok"].all()
    finally:
        arc.close()
        tmp.cleanup()


@given(first=jobs(job_id="same-id"), second=jobs(job_id="same-id"))
def test_re_adding_a_job_updates_it(first, second):
    """The newer record wins, except that a non-final snapshot never replaces a final job
    and an update without payloads keeps the stored ones."""
    from jobarchive.status import API_FINAL_STATUSES

    arc, tmp = _fresh_archive()
    try:
        arc.add(first)
        arc.add(second)
        old, new = IBMQJob.from_dict(first).to_dict(), IBMQJob.from_dict(second).to_dict()
        got = arc.get("same-id").to_dict()
        if old["status"] in API_FINAL_STATUSES and new["status"] not in API_FINAL_STATUSES:
            assert got == old
        else:
            if new["qobj"] is None and new["result"] is None:
                new["qobj"], new["result"] = old["qobj"], old["result"]
            elif new["qobj"] is None:
                new["qobj"] = old["qobj"]
            elif new["result"] is None:
                new["result"] = old["result"]
            assert got == new
        assert len(arc) == 1
    finally:
        arc.close()
        tmp.cleanup()
