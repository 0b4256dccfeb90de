"""counts() of v1 jobs (2018-2019 API: counts in the record's qasms) beside jobs with a
result: in the order asked, with the experiment numbers of the qasms entries."""

from __future__ import annotations

RESULT = {"backend_name": "b", "backend_version": "1", "qobj_id": "q", "job_id": "new", "success": True,
          "results": [{"shots": 10, "success": True, "data": {"counts": {"0x0": 4, "0x1": 6}},
                       "header": {"memory_slots": 1}}]}


def _v1(job_id: str, qasms: list) -> dict:
    return {"job_id": job_id, "creation_date": "2018-08-02T17:29:56Z", "status": "COMPLETED",
            "backend_name": "ibmqx4", "qasms": qasms}


def _qasm(counts: dict) -> dict:
    return {"status": "DONE", "qasm": "...", "result": {"data": {"counts": counts, "time": 0.1}}}


def _rows(frame):
    return list(frame[["job_id", "experiment", "bitstring", "count"]].itertuples(index=False, name=None))


def test_v1_counts_keep_qasms_positions_and_the_order_asked(arc):
    arc.add_many([
        {"job_id": "new", "creation_date": "2021-01-01T00:00:00Z", "status": "COMPLETED", "result": RESULT},
        _v1("old", [_qasm({"00": 3, "11": 7}), {"status": "ERROR"}, "odd", _qasm({"01": 1})]),
        _v1("broken", [{"result": "not a dict"}, {"result": {"data": None}}]),
        {"job_id": "tagged", "creation_date": "2021-01-01T00:00:00Z", "status": "CANCELLED",
         "tags": ['"qasms":'], "name": '{"qasms": [1]}'},  # the key's text elsewhere: not a v1 job
    ])
    assert _rows(arc.counts(["old", "new"])) == [
        ("old", 0, "00", 3), ("old", 0, "11", 7), ("old", 3, "01", 1), ("new", 0, "0", 4), ("new", 0, "1", 6)]
    assert _rows(arc.counts(["new", "old", "tagged", "broken"])) == [
        ("new", 0, "0", 4), ("new", 0, "1", 6), ("old", 0, "00", 3), ("old", 0, "11", 7), ("old", 3, "01", 1)]
    assert sorted(_rows(arc.counts())) == sorted(_rows(arc.counts(["old", "new"])))
    assert arc.counts(["tagged", "broken"]).empty
    assert str(arc.counts(["old"])["job_id"].dtype) == "string"
