"""Fuzzing the input boundary: any job-ish dict is either archived losslessly or refused
with the package's own error, and a refusal writes nothing."""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from jobarchive import Archive, IBMQError, IBMQJob, QueryValueError

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
KEYS = st.sampled_from(["job_id", "creation_date", "status", "tags", "name", "result", "qobj",
                        "time_per_step", "kind", "share_level", "error", "client_info", "extra"])
GOOD = {"job_id": st.text(alphabet="abcdef0123456789", min_size=1, max_size=24),
        "creation_date": st.sampled_from(["2021-05-04T11:34:58.965Z", "2021-05-04 11:34:58+02:00",
                                          "2021-05-04", "nope", "2021-13-01T00:00:00Z"]),
        "status": st.sampled_from(["COMPLETED", "completed", "RUNNING", "DONE", ""])}


@st.composite
def jobish(draw):
    rec = {k: draw(v) for k, v in GOOD.items() if draw(st.booleans()) or k != "status"}
    for key in draw(st.lists(KEYS, max_size=4)):
        rec[key] = draw(JSONISH)
    return rec


@pytest.fixture(scope="module")
def arc(tmp_path_factory):
    with Archive(tmp_path_factory.mktemp("fuzz") / "a") as archive:
        yield archive


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rec=jobish())
def test_any_dict_is_archived_losslessly_or_refused_cleanly(arc, rec):
    before = len(arc)
    existed = isinstance(rec.get("job_id"), str) and rec["job_id"] in arc
    try:
        expected = IBMQJob.from_dict(rec).to_dict()
    except IBMQError:
        with pytest.raises(IBMQError):
            arc.add(rec)
        assert len(arc) == before
        return
    arc.add(rec)
    assert len(arc) == before + (0 if existed else 1)
    got = arc.get(rec["job_id"]).to_dict()
    if not existed:
        assert got == expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pattern=st.text(max_size=12), status=st.one_of(st.text(max_size=8), st.none()),
       op=st.text(max_size=4))
def test_query_inputs_never_crash(arc, pattern, status, op):
    try:
        frame = arc.query(job_name=pattern, status=status, job_tags=["a"], job_tags_operator=op)
    except QueryValueError:
        return
    assert list(frame.columns)[:4] == ["job_id", "name", "backend_name", "status"]


# --- server documents, every query argument, counts selections --------------------------------

SERVER_DOC = {"kind": "q-object-external-storage", "backend": {"id": "5ae8", "name": "ibmq_qasm_simulator"},
              "status": "COMPLETED", "creationDate": "2021-05-03T18:43:58.520Z",
              "hubInfo": {"hub": {"name": "ibm-q"}}, "endDate": "2021-05-03T18:44:06.372Z",
              "runMode": "fairshare", "id": "6090446ea9b8c9479824290b", "userId": "REDACTED",
              "tags": ["a"], "name": "n", "timePerStep": {"CREATING": "2021-05-03T18:43:58.520Z"},
              "qObjectResult": {"results": [{"shots": 1, "data": {"counts": {"0x1": 1}}}]}}
SERVER_KEYS = st.sampled_from(list(SERVER_DOC) + ["shareLevel", "clientInfo", "infoQueue", "error",
                                                  "experimentTag", "qObject", "calibration", "shots"])
ANY_VALUE = st.one_of(JSONISH, st.datetimes(), st.sets(st.integers(), max_size=2),
                      st.builds(object), st.binary(max_size=4))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.dictionaries(SERVER_KEYS, st.one_of(JSONISH, st.just(None)), max_size=4),
       drop=st.lists(SERVER_KEYS, max_size=2))
def test_mutated_server_documents_map_or_fail_cleanly(arc, campaign_stats, changes, drop):
    """Wrong types, nulls and missing fields in a server document: a clean refusal or a job
    that round-trips through the archive."""
    campaign_stats["fuzz cases (server docs)"] = campaign_stats.get("fuzz cases (server docs)", 0) + 1
    doc = {k: v for k, v in SERVER_DOC.items() if k not in drop}
    doc["id"] = f"srv{campaign_stats['fuzz cases (server docs)']}"
    doc.update(changes)
    try:
        job = IBMQJob.from_server(doc)
    except IBMQError:
        return
    existed = job.job_id() in arc  # then it is an update (payloads it lacks are kept)
    arc.add(job)
    if not existed:
        assert arc.get(job.job_id()).to_dict() == job.to_dict()


QUERY_ARGS = ["status", "job_name", "start_datetime", "end_datetime", "job_tags",
              "job_tags_operator", "share_level", "run_mode", "backend_name", "limit", "skip",
              "descending"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kwargs=st.dictionaries(st.sampled_from(QUERY_ARGS), ANY_VALUE, max_size=4))
def test_any_query_argument_value_is_a_frame_or_query_value_error(arc, campaign_stats, kwargs):
    campaign_stats["fuzz cases (query args)"] = campaign_stats.get("fuzz cases (query args)", 0) + 1
    try:
        frame = arc.query(**kwargs)
    except QueryValueError:
        return
    assert list(frame.columns)[:4] == ["job_id", "name", "backend_name", "status"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(selection=st.one_of(st.none(), st.text(max_size=6), st.lists(st.text(max_size=6), max_size=3)))
def test_counts_selection_is_a_frame_or_not_found(arc, campaign_stats, selection):
    campaign_stats["fuzz cases (counts)"] = campaign_stats.get("fuzz cases (counts)", 0) + 1
    try:
        frame = arc.counts(selection)
    except KeyError:  # JobNotFoundError
        return
    assert list(frame.columns) == ["job_id", "experiment", "bitstring", "count", "key"]
