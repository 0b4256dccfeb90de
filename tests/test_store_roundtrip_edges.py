"""Core store edge cases found in review: what the index derives, and what comes back, must
not depend on how a job's data reached the archive (one write or several, one batch or many)."""

from __future__ import annotations

import json
import os
import string
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

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


# --- property: exact types and bits, not only ==, through every read ------------------------



def _same(a: Any, b: Any, where: str = "") -> None:
    """Equal with the same types everywhere: == alone takes 1 == 1.0 == True and 0.0 == -0.0."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} {a!r} vs {type(b).__name__} {b!r}"
    if isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} vs {list(b)}"
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}.{i}")
    elif isinstance(a, float):
        assert a.hex() == b.hex(), f"{where}: {a!r} vs {b!r}"  # sign of zero included
    else:
        assert a == b, f"{where}: {a!r} vs {b!r}"


_HARD_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12) | st.sampled_from(
    ["", "\x00", "\\u0000", "\U0001F600\U00010348", "\u2028\u2029", '"\\/\b\f\n\r\t', "é" * 3, "0x1"])
_HARD_LEAF = (st.none() | st.booleans() | st.integers() | _HARD_TEXT
              | st.sampled_from([0.0, -0.0, 1.0, -1.0, 1e308, -1e308, 5e-324, -5e-324, 2.2250738585072014e-308,
                                 1e16, 0.1, 2 ** 53 + 1, 2 ** 63, -(2 ** 63) - 1, 2 ** 64, -(3 ** 200),
                                 10 ** 4300 - 1])
              | st.floats(allow_nan=False, allow_infinity=False))
_HARD_JSON = st.recursive(_HARD_LEAF, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(_HARD_TEXT, inner, max_size=3), max_leaves=10)
_COUNT_KEYS = st.sampled_from(["0x0", "0x1", "0xA", "0xa", "0XF", "0b101", "101", "1 01", "0", "", "0x",
                               "11 0", "1_0"])
_COUNT_VALUES = st.integers(0, 10 ** 6) | st.sampled_from([True, 2.0, 2.5, -1, 2 ** 63, 2 ** 70, None])
_HEADERS = st.sampled_from([None, {}, {"memory_slots": 3}, {"memory_slots": 4, "creg_sizes": [["a", 2], ["b", 2]]},
                            {"creg_sizes": [["c", 2]]}])


@st.composite
def _results(draw: Any) -> dict[str, Any]:
    exps = []
    for _ in range(draw(st.integers(0, 4))):
        exp: dict[str, Any] = {"shots": draw(st.integers(0, 2 ** 70)),
                               "data": {"counts": draw(st.dictionaries(_COUNT_KEYS, _COUNT_VALUES, max_size=5))}}
        header = draw(_HEADERS)
        if header is not None:
            exp["header"] = header
        exp["extra"] = draw(_HARD_JSON)
        exps.append(exp)
    return {"success": draw(st.booleans()), "results": exps, "x": draw(_HARD_JSON)}


_IDS = st.sampled_from(["a", "A", "-", "_x.y", "9" * 128, "j.0-Z_"])


@st.composite
def _records(draw: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {"job_id": draw(_IDS), "creation_date": "2021-03-04T05:06:07.891011Z",
                           "status": draw(st.sampled_from(["COMPLETED", "RUNNING", "ERROR_RUNNING_JOB"])),
                           "name": draw(_HARD_TEXT | st.none()), "tags": draw(st.lists(_HARD_TEXT, max_size=4))}
    for key, strategy in (("result", _results()), ("qobj", _HARD_JSON.map(lambda v: {"config": {}, "v": v}))):
        if draw(st.booleans()):
            rec[key] = draw(strategy)
    for key in draw(st.lists(st.text(string.ascii_lowercase, min_size=1, max_size=6), max_size=3)):
        if key not in rec and key not in ("job_id", "status", "creation_date", "kind", "share_level",
                                          "error", "time_per_step", "client_info", "info_queue",
                                          "backend_name", "run_mode", "experiment_id"):
            rec[key] = draw(_HARD_JSON)
    return rec


def _expected_counts(result: Any) -> list[tuple[int, str, int]]:
    """(experiment, raw key, count) of every count the count rows hold: an int (or integral
    float) within int64, in stored order."""
    out = []
    for i, exp in enumerate((result or {}).get("results", [])):
        for key, value in exp["data"]["counts"].items():
            if type(value) is float and value.is_integer():
                value = int(value)
            if type(value) is int and -(2 ** 63) <= value < 2 ** 63:
                out.append((i, key, value))
    return out


@settings(max_examples=int(os.environ.get("EDGE_EXAMPLES", "60")), deadline=None)
@given(batch=st.lists(_records(), min_size=1, max_size=6))
def test_hard_values_come_back_with_their_exact_types(batch: list[dict[str, Any]]) -> None:
    """Ints past 64 bits, -0.0, subnormals, astral and escape characters, empty containers,
    counts of every spelling and type, jobs with a qobj or a result or neither, and the same
    id several times in one batch: what add_many stored is what the last record (merged with
    the payloads it lacks) says, type for type, via get(), record() and counts()."""
    import tempfile

    from jobarchive import IBMQJob
    from jobarchive.record import normalize
    from jobarchive.status import API_FINAL_STATUSES

    expected: dict[str, dict[str, Any]] = {}
    for rec in batch:  # add_many's documented semantics, applied one record at a time
        norm = normalize(rec, detach=True)
        old = expected.get(rec["job_id"])
        if old is not None and old["status"] in API_FINAL_STATUSES and norm["status"] not in API_FINAL_STATUSES:
            continue  # a non-final snapshot never replaces a final job
        if old is not None and (norm["qobj"] is None) != (norm["result"] is None):
            norm["qobj"] = norm["qobj"] if norm["qobj"] is not None else old["qobj"]
            norm["result"] = norm["result"] if norm["result"] is not None else old["result"]
        elif old is not None and norm["qobj"] is None and norm["result"] is None:
            norm["qobj"], norm["result"] = old["qobj"], old["result"]
        expected[rec["job_id"]] = norm
    with tempfile.TemporaryDirectory() as tmp:
        arc = Archive(Path(tmp) / "a")
        assert arc.add_many(batch) == len(batch)
        for job_id, want in expected.items():
            _same(arc.record(job_id), want, job_id)
            _same(arc.get(job_id).to_dict(), IBMQJob.from_dict(want).to_dict(), job_id)
            json.dumps(arc.record(job_id))  # JSON-only types
            counts = arc.counts([job_id])
            got = list(zip(counts["experiment"].tolist(), counts["key"].tolist(), counts["count"].tolist(),
                           strict=True))
            assert got == _expected_counts(want["result"]), job_id
        arc.close()


# --- a reader beside a writer that supersedes a blob and a repair that removes it ----------


def _racing(arc_r: Archive, arc_w: Archive, job_id: str, method: str) -> None:
    """Make ``arc_r``'s next blob read find its file superseded and removed in between: the
    reader has its index row; another writer then updates the job (a new blob) and an audit
    repair deletes the old file, before the reader opens it. Real files and SQLite on both
    sides; only the moment is chosen."""
    real = getattr(arc_r.blobs, method)
    state = {"done": False}

    def read(*args: Any, **kwargs: Any) -> Any:
        if not state["done"]:
            state["done"] = True
            arc_w.add(_job(job_id, status="COMPLETED", qobj={**QOBJ, "v": 2}, result=RESULT))
            frame = arc_w.audit(repair=True)
            assert frame.attrs["removed_orphans"], "the superseded blob was not removed"
        return real(*args, **kwargs)

    setattr(arc_r.blobs, method, read)


def test_get_beside_a_writer_and_a_repair_reads_the_new_version(tmp_path: Path) -> None:
    """get() read the index row, then the blob file it names; when another process updated
    the job and `audit --repair` removed the superseded file in between, get() raised
    BlobIntegrityError ('blob ... is missing', run audit) for a job that is intact."""
    arc_w, arc_r = Archive(tmp_path / "a"), Archive(tmp_path / "a")
    arc_w.add(_job("j", status="COMPLETED", qobj={**QOBJ, "v": 1}, result=RESULT))
    _racing(arc_r, arc_w, "j", "read_payloads")
    assert arc_r.get("j").to_dict()["qobj"]["v"] == 2
    assert arc_r.record("j") == arc_w.record("j")


def test_counts_beside_a_writer_and_a_repair_reads_the_new_version(tmp_path: Path) -> None:
    """counts() likewise read the locations, then the files: a file superseded and removed
    in between raised BlobIntegrityError (or, with missing='skip', left the job out)."""
    arc_w, arc_r = Archive(tmp_path / "a"), Archive(tmp_path / "a")
    arc_w.add(_job("j", status="COMPLETED", qobj={**QOBJ, "v": 1}, result=RESULT))
    arc_w.add(_job("k", status="COMPLETED", result=RESULT))
    for missing in ("raise", "skip"):
        _racing(arc_r, arc_w, "j", "read_counts")
        frame = arc_r.counts(["j", "k"], missing=missing)
        assert frame["job_id"].tolist() == ["j", "j", "k", "k"]
        assert frame.attrs["skipped_jobs"] == []


@pytest.mark.parametrize("given", ["dict", "str"])
def test_add_many_of_one_job_says_so(tmp_path: Path, given: str) -> None:
    """add_many(one_dict) iterated the dict's keys and refused 'cannot archive a str', which
    named neither the job nor the fix (pass a list, or add())."""
    from jobarchive.exceptions import JobValidationError

    arc = Archive(tmp_path / "a")
    one = _job("only") if given == "dict" else "only"
    with pytest.raises(JobValidationError, match=r"iterable of jobs.*add\(job\)") as err:
        arc.add_many(one)
    if given == "dict":
        assert "'only'" in str(err.value)
    assert len(arc) == 0
    assert arc.add_many([_job("only")]) == 1


# --- the same job many times in one batch -----------------------------------------------------


@pytest.mark.parametrize("with_qobj", [False, True])
def test_repeats_of_a_job_in_one_batch_write_one_blob_and_leave_no_orphans(tmp_path: Path,
                                                                          with_qobj: bool) -> None:
    """add_many of 200 snapshots of one job wrote each round's payloads to a blob file of its
    own: 200 fsynced files, 199 of them orphans that audit() then lists (as if writes had
    been interrupted). Superseded payloads are no longer written; the job, its events and
    its counts are as before."""
    arc = Archive(tmp_path / "a")
    arc.add(_job("same", status="COMPLETED", qobj={"stored": 1}))
    extra = {"qobj": QOBJ} if with_qobj else {}
    snaps = [_job("same", status="COMPLETED", tags=[f"t{i % 3}"], **extra,
                  result={"results": [{"shots": i, "data": {"counts": {"0x1": i}}}]}) for i in range(200)]
    assert arc.add_many(snaps) == 200
    blobs = tmp_path / "a" / "blobs"
    assert len(list(blobs.glob("*.parquet"))) == 2  # the stored one's, the batch's
    assert len(arc.audit().attrs["orphans"]) == 1  # the stored one's: its only job moved
    record = arc.record("same")
    assert record["qobj"] == (QOBJ if with_qobj else {"stored": 1})
    assert record["result"] == snaps[-1]["result"]
    assert arc.counts(["same"])["count"].tolist() == [199]
    assert len(arc.history("same")) == 200  # a tags event each snapshot


_PAYLOAD_CHOICES = st.sampled_from(["none", "qobj", "result", "both"])


@st.composite
def _snapshots(draw: Any) -> list[dict[str, Any]]:
    out = []
    for n in range(draw(st.integers(1, 12))):
        kind = draw(_PAYLOAD_CHOICES)
        fields: dict[str, Any] = {"status": draw(st.sampled_from(["COMPLETED", "RUNNING", "CANCELLED"])),
                                  "tags": [draw(st.sampled_from("abc"))], "name": f"n{n}"}
        if kind in ("qobj", "both"):
            fields["qobj"] = {"n": n, "experiments": [{}] * (n % 3 + 1)}
        if kind in ("result", "both"):
            fields["result"] = {"n": n, "results": [{"shots": n, "data": {"counts": {"0x0": n}}}] * (n % 2 + 1)}
        out.append(_job(draw(st.sampled_from(["x", "y"])), **fields))
    return out


@settings(max_examples=int(os.environ.get("EDGE_EXAMPLES", "60")), deadline=None)
@given(stored=_snapshots(), batch=_snapshots())
def test_one_batch_equals_adding_one_by_one(stored: list[dict[str, Any]], batch: list[dict[str, Any]]) -> None:
    """add_many of snapshots with repeated ids (some with a qobj, a result, both or neither;
    final and not) ends exactly as adding them one at a time: records, index columns, counts
    and events."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        one, many = Archive(Path(tmp) / "one"), Archive(Path(tmp) / "many")
        for arc in (one, many):
            arc.add_many(stored)
        for rec in batch:
            one.add(rec)
        many.add_many(batch)
        for job_id in ("x", "y"):
            assert (job_id in one) == (job_id in many)
            if job_id not in one:
                continue
            assert many.record(job_id) == one.record(job_id)
            events = [frame[["kind", "old", "new"]].values.tolist() for frame in
                      (one.history(job_id), many.history(job_id))]
            assert events[0] == events[1]
        columns = ["job_id", "status", "tags", "num_experiments", "shots", "has_result"]
        assert many.query()[columns].to_dict("records") == one.query()[columns].to_dict("records")
        ids = ["x", "y"]  # every job's counts come in the order written, which rounds change
        assert [many.counts([j]).to_dict("records") for j in ids if j in many] == \
               [one.counts([j]).to_dict("records") for j in ids if j in one]
        one.close()
        many.close()


def test_repair_rederives_payload_columns_written_from_one_payload(tmp_path: Path) -> None:
    """Archives written before the fix of split updates hold num_experiments/shots derived
    from the payload carried alone (here shots 1024 where the job gives 512). audit
    --reproduce reports it as 'edited outside jobarchive?' but repair leaves the value, so
    query() keeps answering it. The index row is set as that version wrote it."""
    arc = Archive(tmp_path / "a")
    arc.add(_job("s", qobj=QOBJ, result={**RESULT, "qobj_id": "q"}))
    with arc.index.transaction():  # the row as written by the old split update
        arc.index.conn.execute("UPDATE jobs SET shots = 1024 WHERE job_id = 's'")
    frame = arc.audit(repair=True, reproduce=True).set_index("job_id")
    assert frame.loc["s", "ok"], frame.loc["s", "problem"]
    assert "repaired from its payloads: the index's shots is 1024" in frame.loc["s", "notes"]
    assert arc.query()["shots"].tolist() == [512]
    assert arc.audit(reproduce=True)["ok"].all()


def test_repair_sets_a_has_result_edited_in_sqlite_from_the_payloads(tmp_path: Path) -> None:
    arc = Archive(tmp_path / "a")
    arc.add(_job("s", qobj=QOBJ, result={**RESULT, "qobj_id": "q"}))
    with arc.index.transaction():
        arc.index.conn.execute("UPDATE jobs SET has_result = 0 WHERE job_id = 's'")
    assert not arc.audit(reproduce=True)["ok"].all()
    arc.audit(repair=True, reproduce=True)
    assert arc.query()["has_result"].tolist() == [True] and arc.audit(reproduce=True)["ok"].all()
