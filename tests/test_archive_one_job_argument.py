"""get/record/history take one job: an id, or a one-job selection; anything else is a
TypeError that says so, never 'not in the archive' of a job the archive holds."""

from __future__ import annotations

import pytest

RECORD = {"creation_date": "2021-01-01T00:00:00Z", "status": "COMPLETED"}


@pytest.fixture
def two(arc):
    arc.add_many([{**RECORD, "job_id": "a"}, {**RECORD, "job_id": "b"}])
    return arc


@pytest.mark.parametrize("read", ["get", "record", "history"])
@pytest.mark.parametrize(("value", "said"), [(5, "not a int"), (None, "not a NoneType"),
                                             (["a", "b"], "not 2 jobs"), ([], "not 0 jobs")])
def test_anything_but_one_job_is_a_type_error_naming_the_fix(two, read, value, said):
    with pytest.raises(TypeError, match=f"Archive.{read}\\(\\) takes one job id.*{said}.*iloc\\[0\\]"):
        getattr(two, read)(value)


def test_a_row_of_a_query_frame_reads_its_job(two):
    two.add({**RECORD, "job_id": "b", "status": "CANCELLED"})  # an event to read back
    row = two.query().set_index("job_id", drop=False).loc["b"]
    assert two.get(row).job_id() == "b"
    assert two.record(row)["job_id"] == "b"
    assert two.history(row)["job_id"].tolist() == ["b"]
    assert two.get(two.query(status="CANCELLED")["job_id"].iloc[:1]).job_id() == "b"


def test_an_absent_id_is_still_not_found(two):
    with pytest.raises(KeyError, match="not in the archive"):
        two.get("c")
