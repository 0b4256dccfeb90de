"""Stored values come back with their JSON type, not only an equal value: ``==`` cannot see
``True`` turned into ``1``, ``1.0`` into ``1`` or ``-0.0`` into ``0.0``, which the other round
trip tests compare with. Real archives in a temp dir, property-tested."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import hypothesis.strategies as st
import pytest
from hypothesis import given

from jobarchive import Archive, IBMQJob

pytestmark = pytest.mark.terra046

leaves = (st.none() | st.booleans() | st.integers() | st.text(max_size=8)
          | st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.0 ** 53, 5e-324, 1.7976931348623157e308,
                             0.1, 1e16, 1e-7, 1, 0, True, False, 2 ** 63, -(2 ** 63) - 1,
                             2 ** 64, 3 ** 90, "", "0x1", "\u2028", "\U0001F600", "\x00"])
          | st.floats(allow_nan=False, allow_infinity=False))
values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=5), inner, max_size=4), max_leaves=16)


def same(a, b) -> bool:
    """Equal with the same types all the way down (and the sign of zero)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return a == b


@given(extra=values, in_result=values, in_qobj=values)
def test_every_json_type_survives_the_archive(extra, in_result, in_qobj):
    record = {"job_id": "5f8e2a1b9c0d4e0012ab34cd", "creation_date": "2020-10-20T14:03:11.512Z",
              "status": "COMPLETED", "kind": "q-object", "server_extra": extra,
              "result": {"backend_name": "b", "backend_version": "1", "qobj_id": "q",
                         "job_id": "j", "success": True, "extra": in_result,
                         "results": [{"shots": 1, "success": True, "data": {"counts": {"0x0": 1}},
                                      "metadata": {"x": in_result}}]},
              "qobj": {"qobj_id": "q", "type": "QASM", "config": {"x": in_qobj},
                       "experiments": []}}
    built = IBMQJob.from_dict(record).to_dict()
    assert same(built["server_extra"], extra)
    with tempfile.TemporaryDirectory() as tmp, Archive(Path(tmp) / "a") as arc:
        arc.add(IBMQJob.from_dict(record))
        back = arc.get(record["job_id"]).to_dict()
    assert same(back, built)
