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
