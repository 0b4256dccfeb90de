"""`--format json` prints what ``json.dumps(records, indent=2, ensure_ascii=False)`` prints,
across the chunks it is converted in, whichever JSON library converts them."""

from __future__ import annotations

import json

import pandas as pd

from jobarchive.cli import _JSON_CHUNK, _frame_json


def test_json_output_is_the_stdlib_indent_of_the_records_across_chunks():
    n = _JSON_CHUNK + 3
    frame = pd.DataFrame({
        "job_id": pd.array([f"j{i}" for i in range(n)], dtype="string"),
        "name": ["état ✓ 量子", None, 'quote " and \\ back'] * (n // 3) + ["x"] * (n % 3),
        "creation_date": pd.to_datetime([1_600_000_000_000_000 + i for i in range(n)], unit="us", utc=True),
        "tags": [["a", "π"], [], ["b"]] * (n // 3) + [[]] * (n % 3),
        "shots": pd.array([1024, None, 2] * (n // 3) + [0] * (n % 3), dtype="Int64"),
        "fidelity": [0.5, 0.987654321, 123456.789] * (n // 3) + [1.0] * (n % 3),
    })
    text = _frame_json(frame)
    records = json.loads(text)
    assert len(records) == n and records[0]["name"] == "état ✓ 量子" and records[1]["shots"] is None
    assert text == json.dumps(records, indent=2, ensure_ascii=False)


def test_tiny_and_huge_floats_keep_their_values():
    # Exponents are spelled as orjson does (1e-7, where the stdlib writes 1e-07): the same JSON.
    frame = pd.DataFrame({"x": [1e-7, 6.02e23, -2.5e-300]})
    assert [r["x"] for r in json.loads(_frame_json(frame))] == [1e-7, 6.02e23, -2.5e-300]


def test_an_int_beyond_64_bits_is_printed_exactly():
    frame = pd.DataFrame({"job_id": ["j"], "big": [2**70]}, dtype=object)
    assert json.loads(_frame_json(frame)) == [{"job_id": "j", "big": 2**70}]
