"""The long counts DataFrame of ``Archive.counts`` matches qiskit's ``Result.get_counts``
for every spelling of count keys that qiskit's ``Counts`` accepts."""

from __future__ import annotations

import json

import pytest
from qiskit.result import Result

pytestmark = pytest.mark.terra046  # qiskit's Result.from_dict differs across versions


def _frame_counts(arc, job_id: str, experiment: int) -> dict[str, int]:
    frame = arc.counts([job_id])
    part = frame[frame["experiment"] == experiment]
    return dict(zip(part["bitstring"], part["count"].astype(int), strict=True))


def _add(arc, job_id: str, counts: dict, header: dict) -> dict:
    result = {"backend_name": "ibmq_qasm_simulator", "backend_version": "0.1.0", "qobj_id": "q",
              "job_id": job_id, "success": True,
              "results": [{"shots": sum(counts.values()), "success": True,
                           "data": {"counts": counts}, "header": header}]}
    arc.add({"job_id": job_id, "creation_date": "2021-05-04T11:34:58.965Z",
             "status": "COMPLETED", "kind": "q-object", "result": result})
    return result


def test_0b_keys_without_a_header_layout_lose_their_prefix_like_qiskit(arc):
    result = _add(arc, "j0b", {"0b101": 3, "0b1": 2}, {"name": "c0"})
    want = dict(Result.from_dict(result).get_counts(0))
    assert want == {"101": 3, "1": 2}
    assert dict(arc.get("j0b").result().get_counts(0)) == want  # the Result side is qiskit's own
    assert _frame_counts(arc, "j0b", 0) == want


def test_spaced_binary_keys_with_memory_slots_are_re_laid_out_like_qiskit(arc):
    result = _add(arc, "jsp", {"0 1": 3, "1 1": 2}, {"memory_slots": 3})
    want = dict(Result.from_dict(result).get_counts(0))
    assert want == {"001": 3, "011": 2}
    assert _frame_counts(arc, "jsp", 0) == want


def test_every_real_result_reads_back_as_qiskit_reads_it(realdata, arc):
    entries = json.loads((realdata / "results_all.json").read_text())
    for n, entry in enumerate(entries):
        result = entry["result"]
        job_id = f"real{n}"
        arc.add({"job_id": job_id, "creation_date": "2021-05-04T11:34:58.965Z",
                 "status": "COMPLETED", "kind": "q-object-external-storage", "result": result})
        assert arc.get(job_id).to_dict()["result"] == result  # kept exactly as sent
        want, got = Result.from_dict(result), arc.get(job_id).result()
        mine, theirs = got.to_dict(), want.to_dict()
        for key in ("date", "client_version"):  # decoded the way the client does (§4.6)
            mine.pop(key, None)
            theirs.pop(key, None)
        assert mine == theirs
        for i in range(len(want.results)):
            assert got.get_counts(i) == want.get_counts(i)
            assert _frame_counts(arc, job_id, i) == dict(want.get_counts(i))


def test_integral_float_counts_are_not_dropped_from_the_frame(arc):
    result = _add(arc, "jfl", {"0x0": 512.0, "0x3": 500}, {"memory_slots": 2})
    want = dict(Result.from_dict(result).get_counts(0))
    assert want == {"00": 512, "11": 500}
    assert _frame_counts(arc, "jfl", 0) == want
