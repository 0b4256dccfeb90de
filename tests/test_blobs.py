"""The flat blob layout: a payload row per job followed by its count rows. Counts read back
equal ``extract_counts`` of each result, in the requested order, whatever row groups they
span; payloads round-trip."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from qiskit.exceptions import QiskitError
from qiskit.result import Counts

from jobarchive import Archive
from jobarchive.exceptions import BlobIntegrityError
from jobarchive.store import blobs
from jobarchive.store.blobs import COUNTS_SCHEMA, BlobStore, extract_counts


def make_result(rng: random.Random, job_id: str) -> dict | None:
    """Results of every shape: many experiments, none, experiments without counts, v1 keys,
    counts beyond int64 (kept only in the JSON)."""
    kind = rng.random()
    if kind < 0.1:
        return None
    if kind < 0.2:
        return {"job_id": job_id, "results": []}
    exps = []
    for _ in range(rng.randint(1, 9)):
        slots = rng.randint(1, 6)
        if rng.random() < 0.1:
            exps.append({"header": {"memory_slots": slots}, "data": {}})
            continue
        keys = rng.sample(range(2 ** slots), rng.randint(0, min(30, 2 ** slots)))
        counts: dict[str, int] = {hex(k): rng.randint(0, 1000) for k in keys}
        if rng.random() < 0.1:
            counts["00 1"] = 3  # a v1-style key: qiskit cannot format it, kept as is
        if rng.random() < 0.1:
            counts[rng.choice(["0b1", "1", "01", "110", "0b0011", "1 0", "1_1"])] = 4  # binary keys too
        if rng.random() < 0.05:
            counts["0x2"] = 7.0  # an integral float count, as other languages' JSON writers send
        if rng.random() < 0.05:
            counts["0x0"] = 1 << 70  # only in the JSON
        header = {"memory_slots": slots} if rng.random() < 0.8 else {}
        if rng.random() < 0.5:
            header["creg_sizes"] = [["c", slots - slots // 2], ["d", slots // 2]]
        exps.append({"header": header, "data": {"counts": counts}})
    return {"job_id": job_id, "success": True, "results": exps}


def qiskit_bits(key: str, header: dict | None) -> str:
    """A key as qiskit's ``Result.get_counts`` prints it (its ``Counts``, given the header
    fields get_counts passes), the key alone; as sent where qiskit fails on it."""
    layout = {k: v for k, v in (header or {}).items() if k in ("creg_sizes", "memory_slots")}
    try:
        (bits,) = Counts({key: 1}, **layout)
    except (QiskitError, ValueError):
        return key
    return bits


def expected(job_id: str, result: dict | None) -> list[tuple]:
    """The count rows of a result, by qiskit's own formatting (not the library's code); only
    counts that are ints (or integral floats) within int64."""
    rows = []
    for i, exp in enumerate((result or {}).get("results", [])):
        for key, count in exp.get("data", {}).get("counts", {}).items():
            if type(count) is float and count.is_integer():
                count = int(count)
            if type(count) is int and -2**63 <= count < 2**63:
                rows.append((job_id, i, qiskit_bits(key, exp.get("header")), count, key))
    return rows


def rows_of(table: pa.Table) -> list[tuple]:
    assert table.schema == COUNTS_SCHEMA
    return list(zip(*(table.column(n).to_pylist() for n in COUNTS_SCHEMA.names), strict=True))


@pytest.fixture
def small_groups(monkeypatch):
    """Row groups of a few rows, so that jobs' counts straddle group boundaries."""
    monkeypatch.setattr(blobs, "ROW_GROUP_SIZE", 13)


def entries(n: int, seed: int, prefix: str = "j") -> list[tuple[str, dict | None, dict | None]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        job_id = f"{prefix}{i:05d}"
        result = make_result(rng, job_id)
        qobj = {"qobj_id": job_id, "experiments": [{}] * 2} if rng.random() < 0.8 or result is None else None
        out.append((job_id, qobj, result))
    return out


@pytest.mark.parametrize("group_rows, group_bytes", [(13, 4 << 20), (16384, 4 << 20), (16384, 2000)])
def test_write_then_read_counts_and_payloads(tmp_path, monkeypatch, group_rows, group_bytes):
    monkeypatch.setattr(blobs, "ROW_GROUP_SIZE", group_rows)
    monkeypatch.setattr(blobs, "GROUP_PAYLOAD_BYTES", group_bytes)
    store = BlobStore(tmp_path)
    batch = entries(300, seed=group_rows + group_bytes)
    blob = store.write(batch)
    want = {e[0]: expected(e[0], e[2]) for e in batch}
    assert any(not rows for rows in want.values()) and any(len(rows) > 100 for rows in want.values())
    assert blob.rows == len(batch) + sum(len(r) for r in want.values())
    assert len(blob.payload_rows) == len(batch) and blob.payload_rows[0] == 0
    assert pq.ParquetFile(tmp_path / blob.path).metadata.num_rows == blob.rows
    if group_rows == 13 or group_bytes == 2000:
        assert pq.ParquetFile(tmp_path / blob.path).metadata.num_row_groups > 100

    # payloads round-trip, in the order asked
    order = list(range(len(batch)))
    random.Random(1).shuffle(order)
    got = store.read_payloads(blob.path, [blob.payload_rows[i] for i in order])
    assert got == [(batch[i][1], batch[i][2]) for i in order]

    rng = random.Random(2)
    for pick in (order, sorted(order)[:1], rng.sample(order, 5), rng.sample(order, 150), [order[7]]):
        locations = [(blob.path, blob.payload_rows[i]) for i in pick]
        ids = [batch[i][0] for i in pick]
        table = store.read_counts(locations, order=ids)
        assert rows_of(table) == [row for j in ids for row in want[j]]
    # every job of the file, in file order (the whole-file path), and the None shortcut
    everything = [row for e in batch for row in want[e[0]]]
    assert rows_of(store.read_counts([(blob.path, r) for r in blob.payload_rows])) == everything
    assert rows_of(store.read_counts(None)) == everything


def test_row_groups_are_bounded_by_payload_bytes(tmp_path):
    # Reading one job decodes its row group's payloads: big qobjs without counts (failed
    # jobs of many circuits) once made one group of the whole batch.
    rng = random.Random(5)
    batch = [(f"q{i:03d}", {"qobj_id": f"q{i}", "experiments": [{"instructions": [
        {"name": "u3", "qubits": [0], "params": [rng.random() for _ in range(3)]} for _ in range(3000)]}]},
        None) for i in range(40)]
    sizes = [len(blobs.dumps(qobj)) for _, qobj, _ in batch]
    assert 200_000 < min(sizes) and max(sizes) < blobs.GROUP_PAYLOAD_BYTES // 2
    blob = BlobStore(tmp_path).write(batch)
    meta = pq.ParquetFile(tmp_path / blob.path).metadata
    start = 0
    for g in range(meta.num_row_groups):  # each group takes as many jobs as fit, no more
        stop = start + meta.row_group(g).num_rows
        assert sum(sizes[start:stop]) <= blobs.GROUP_PAYLOAD_BYTES
        assert stop == 40 or sum(sizes[start:stop + 1]) > blobs.GROUP_PAYLOAD_BYTES
        start = stop
    assert start == 40 and meta.num_row_groups >= 3  # one group before the bound
    assert BlobStore(tmp_path).read_payloads(blob.path, [17]) == [(batch[17][1], None)]


def test_jobs_read_one_at_a_time_come_from_the_group_cache(tmp_path, monkeypatch, small_groups):
    # Loops over get() read one job at a time: decoded groups are kept, up to a byte budget.
    monkeypatch.setattr(blobs, "_CACHE_BYTES", 20_000)
    store = BlobStore(tmp_path)
    batch = entries(120, seed=9)
    blob = store.write(batch)
    order = list(range(len(batch))) * 2
    random.Random(3).shuffle(order)
    for i in order:  # every job, twice, in random order: hits, misses and evictions
        assert store.read_payloads(blob.path, [blob.payload_rows[i]]) == [(batch[i][1], batch[i][2])]
        assert store._cached_bytes <= blobs._CACHE_BYTES or len(store._groups) == 1
    assert 1 < len(store._groups) < pq.ParquetFile(tmp_path / blob.path).metadata.num_row_groups
    with pytest.raises(BlobIntegrityError, match="row 100000 was asked for"):
        store.read_payloads(blob.path, [100_000])
    other = BlobStore(tmp_path)  # a fresh cache meets a damaged file
    (tmp_path / blob.path).write_bytes(b"PAR1" + b"\0" * 100)
    with pytest.raises(BlobIntegrityError, match="unreadable"):
        other.read_payloads(blob.path, [0])


def test_archive_counts_all_selected_single(tmp_path, small_groups):
    rng = random.Random(5)
    records = []
    for job_id, qobj, result in entries(120, seed=9, prefix="a"):
        records.append({"job_id": job_id, "creation_date": "2022-03-04T10:00:00.123Z",
                        "status": "COMPLETED", "backend_name": "ibmq_athens",
                        "kind": "q-object-external-storage", "name": "n", "tags": [],
                        "qobj": qobj, "result": result})
    results = {r["job_id"]: r["result"] for r in records}
    with Archive(tmp_path / "a") as arc:
        arc.add_many(records, batch_size=50)  # three files
        # Re-adding some jobs moves them to a new file: their old rows must not come back.
        moved = rng.sample(records, 20)
        arc.add_many(moved)
        assert len(list((arc.path / "blobs").iterdir())) == 4
        ids = [r["job_id"] for r in records]
        frame = arc.counts()
        got = list(frame[list(COUNTS_SCHEMA.names)].itertuples(index=False, name=None))
        assert sorted(got) == sorted(row for j in ids for row in expected(j, results[j]))
        # grouped by job (each job once, experiments in stored order)
        seen = list(dict.fromkeys(frame["job_id"]))
        assert got == [row for j in seen for row in expected(j, results[j])]
        for pick in (rng.sample(ids, 40), ids[::-1], [ids[3]], [ids[0], ids[0]]):
            frame = arc.counts(pick)
            got = list(frame[list(COUNTS_SCHEMA.names)].itertuples(index=False, name=None))
            assert got == [row for j in dict.fromkeys(pick) for row in expected(j, results[j])]
        for r in rng.sample(records, 10):
            assert arc.record(r["job_id"])["result"] == r["result"]
            assert arc.record(r["job_id"])["qobj"] == r["qobj"]
        assert arc.audit()["ok"].all()


def test_rows_that_are_not_payload_rows_are_refused(tmp_path, small_groups):
    store = BlobStore(tmp_path)
    blob = store.write([("x", None, {"results": [{"data": {"counts": {"0x0": 1, "0x1": 2}}}]}),
                        ("y", {"q": 1}, None)])
    assert blob.payload_rows == (0, 3) and blob.rows == 4
    with pytest.raises(BlobIntegrityError):
        store.read_counts([(blob.path, 1)])  # a count row
    with pytest.raises(BlobIntegrityError):
        store.read_counts([(blob.path, 4)])  # beyond the file
    with pytest.raises(BlobIntegrityError):
        store.read_payloads(blob.path, [9])
    assert rows_of(store.read_counts([(blob.path, 3)])) == []
    assert store.read_payloads(blob.path, [3, 0]) == [
        ({"q": 1}, None), (None, {"results": [{"data": {"counts": {"0x0": 1, "0x1": 2}}}]})]


def test_files_of_the_nested_layout_still_read(tmp_path):
    """A blob written before the flat layout (one row a job, a list column of counts)."""
    store = BlobStore(tmp_path)
    batch = entries(40, seed=3, prefix="old")
    legacy = pa.schema([("job_id", pa.string()), ("result", pa.large_string()),
                        ("qobj", pa.large_string()),
                        ("counts", pa.list_(blobs.LEGACY_COUNT_TYPE))])
    table = pa.Table.from_pydict({
        "job_id": [e[0] for e in batch],
        "result": [None if e[2] is None else blobs.dumps(e[2]) for e in batch],
        "qobj": [None if e[1] is None else blobs.dumps(e[1]) for e in batch],
        "counts": [extract_counts(e[2]) for e in batch],
    }, schema=legacy)
    pq.write_table(table, tmp_path / "blobs" / ("0" * 32 + ".parquet"), row_group_size=8)
    rel = "blobs/" + "0" * 32 + ".parquet"
    pick = list(np.random.default_rng(0).permutation(len(batch))[:15])
    got = store.read_counts([(rel, int(i)) for i in pick], order=[batch[i][0] for i in pick])
    assert rows_of(got) == [row for i in pick for row in expected(batch[i][0], batch[i][2])]
    assert store.read_payloads(rel, [5, 2]) == [(batch[5][1], batch[5][2]), (batch[2][1], batch[2][2])]


def test_counts_that_are_not_int64_ints_stay_only_in_the_json(tmp_path):
    """Counts are checked per batch in one pyarrow conversion; any bool, float, None, string
    or int beyond int64 sends the batch down the per-value path, which leaves it out."""
    store = BlobStore(tmp_path)
    odd = [True, 1.5, None, "3", 1 << 63, -(1 << 63) - 1]
    for i, value in enumerate(odd):
        result = {"results": [{"header": {"memory_slots": 2},
                               "data": {"counts": {"0x0": 5, "0x1": value, "0x3": -(1 << 63)}}}]}
        batch = [(f"ok{i}", None, {"results": [{"data": {"counts": {"0x1": 7}}}]}),
                 (f"odd{i}", None, result)]
        blob = store.write(batch)
        table = store.read_counts([(blob.path, r) for r in blob.payload_rows])
        assert rows_of(table) == [(f"ok{i}", 0, "1", 7, "0x1"), (f"odd{i}", 0, "00", 5, "0x0"),
                                  (f"odd{i}", 0, "11", -(1 << 63), "0x3")], value
        assert store.read_payloads(blob.path, blob.payload_rows[1:]) == [(None, result)]
    assert [c["count"] for c in extract_counts({"results": [{"data": {"counts": {"0x0": 2}}}]})] == [2]
