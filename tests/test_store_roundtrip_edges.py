"""Core store edge cases found in review: what the index derives, and what comes back, must
not depend on how a job's data reached the archive (one write or several, one batch or many)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jobarchive import Archive

SIZE_COLUMNS = ["job_id", "num_experiments", "shots", "has_result"]


def _job(job_id: str, **fields: Any) -> dict[str, Any]:
    return {"job_id": job_id, "creation_date": "2020-10-20T14:03:11.512Z",
            "status": "ERROR_RUNNING_JOB", **fields}


# A failed job: its qobj has 5 experiments of 1024 shots, its partial result 2 of 512.
QOBJ = {"qobj_id": "q", "type": "QASM", "config": {"shots": 1024, "memory_slots": 1},
        "experiments": [{"header": {}, "instructions": []} for _ in range(5)]}
RESULT = {"backend_name": "b", "success": False,
          "results": [{"shots": 512, "success": True, "header": {},
                       "data": {"counts": {"0x0": 512}}} for _ in range(2)]}


def _sizes(arc: Archive) -> dict[str, tuple]:
    frame = arc.query(descending=False)
    return {row[0]: tuple(row[1:]) for row in frame[SIZE_COLUMNS].itertuples(index=False)}


@pytest.mark.parametrize("one_batch", [False, True])
def test_payloads_written_apart_give_the_columns_of_one_write(tmp_path: Path, one_batch: bool) -> None:
    """An update carrying only the qobj (or only the result) keeps the stored other one; the
    query columns derived from the payloads (num_experiments, shots) must then be those of
    the merged job. They were derived from the payload carried alone: 2 experiments where
    the whole job gives 5, 1024 shots where it gives 512."""
    arc = Archive(tmp_path / "a")
    arc.add(_job("whole", qobj=QOBJ, result=RESULT))
    steps = [[_job("qobj-first", qobj=QOBJ), _job("result-first", result=RESULT)],
             [_job("qobj-first", result=RESULT), _job("result-first", qobj=QOBJ)]]
    if one_batch:
        arc.add_many(steps[0] + steps[1])
    else:
        for step in steps:
            arc.add_many(step)
    sizes = _sizes(arc)
    assert sizes["whole"] == (5, 512, True)
    assert sizes["qobj-first"] == sizes["whole"]
    assert sizes["result-first"] == sizes["whole"]
    whole = arc.record("whole")
    for job_id in ("qobj-first", "result-first"):
        assert {**arc.record(job_id), "job_id": "whole"} == whole


def _nested(levels: int, inner: Any = 1) -> Any:
    value = inner
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize("levels", [500, 1200])
@pytest.mark.parametrize("field", ["result", "calibration_notes"])
def test_too_deep_values_are_refused_naming_job_and_field(tmp_path: Path, levels: int, field: str) -> None:
    """A value nested deeper than JSON writers go was taken by the stdlib fallback: 1200
    levels raised a bare RecursionError from add(); 500 levels were stored, but get() of the
    job then raised RecursionError (to_dict's deepcopy), and IBMQJob.from_dict() of the same
    dict too. Now a refusal naming the job and field, and nothing of the list is written."""
    from jobarchive.exceptions import JobValidationError

    arc = Archive(tmp_path / "a")
    good = _job("fine", result=RESULT)
    deep = _job("deep", **{field: {"x": _nested(levels)}})
    with pytest.raises(JobValidationError) as err:
        arc.add_many([good, deep])
    text = str(err.value)
    assert "'deep'" in text and field in text and "JSON string" in text
    assert len(arc) == 0 and "fine" not in arc


def test_deepest_accepted_value_round_trips_on_the_slow_path(tmp_path: Path) -> None:
    """At the limit, with an int beyond 64 bits (which sends normalize and the blob writer
    to the stdlib JSON path), the value still comes back identical everywhere."""
    from jobarchive import IBMQJob
    from jobarchive.record import MAX_NESTING

    arc = Archive(tmp_path / "a")
    big = (1 << 80) + 1
    deep = _nested(MAX_NESTING - 1, big)
    doc = _job("deep", result={**RESULT, "x": deep}, qobj={**QOBJ, "x": deep}, notes=deep)
    arc.add(doc)
    assert arc.get("deep").to_dict() == IBMQJob.from_dict(doc).to_dict()
    assert arc.record("deep")["notes"] == deep
    assert arc.counts(["deep"])["count"].tolist() == [512, 512]


@pytest.mark.parametrize("field", ["result", "seed_info"])
def test_ints_past_pythons_digit_cap_are_refused_and_the_largest_kept_round_trip(
        tmp_path: Path, field: str) -> None:
    """An int of more than 4,300 decimal digits (Python's default int/str cap) made add()
    raise a bare ValueError from json.dumps ('Exceeds the limit (4300 digits)'), naming no
    job or field; and a process that lifted the cap stored what a default process could not
    read. Refused now with the job, the field path and the fix; 4,300 digits still round-trip."""
    from jobarchive import IBMQJob
    from jobarchive.exceptions import JobValidationError

    arc = Archive(tmp_path / "a")
    largest = 10 ** 4300 - 1
    kept = _job("kept", **{field: {"v": [largest, -largest]}})
    arc.add(kept)
    assert arc.get("kept").to_dict() == IBMQJob.from_dict(kept).to_dict()
    assert arc.record("kept")[field] == {"v": [largest, -largest]}
    with pytest.raises(JobValidationError) as err:
        arc.add_many([_job("other"), _job("huge", **{field: {"v": [1, -(10 ** 4300)]}})])
    text = str(err.value)
    assert "'huge'" in text and f"{field}.v.1" in text and "as a string" in text
    assert "other" not in arc and len(arc) == 1
