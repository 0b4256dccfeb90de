"""Result and qobj blobs in Parquet (the only module that touches Parquet).

One file per written batch, so writing 10,000 results costs a handful of files, not 10,000.
Each job is one row, findable by (file, row). Columns: ``job_id``; ``result`` and ``qobj``
as the exact JSON the server sent (zstd-compressed by Parquet, restored losslessly); and
``counts``, a list of ``{experiment, key, bitstring, count}`` structs, so histograms load
as Arrow columns without any JSON parsing. Files are written to a temp name, fsynced,
renamed and the directory fsynced: a file that exists under its final name is complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..exceptions import BlobIntegrityError

ROW_GROUP_SIZE = 256
MAX_PADDED_BITS = 1 << 16
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
BLOB_DIR = "blobs"
_SUFFIX = ".parquet"
_TMP_PREFIX = ".tmp-"

COUNT_TYPE = pa.struct([
    ("experiment", pa.int32()),
    ("key", pa.string()),
    ("bitstring", pa.string()),
    ("count", pa.int64()),
])
SCHEMA = pa.schema([
    ("job_id", pa.string()),
    ("result", pa.large_string()),
    ("qobj", pa.large_string()),
    ("counts", pa.list_(COUNT_TYPE)),
])
COUNTS_SCHEMA = pa.schema([
    ("job_id", pa.string()),
    ("experiment", pa.int32()),
    ("bitstring", pa.string()),
    ("count", pa.int64()),
    ("key", pa.string()),
])


@dataclass(frozen=True)
class BlobFile:
    """A written blob: its path relative to the archive, SHA-256, size and row count."""

    path: str
    sha256: str
    bytes: int
    rows: int


def dumps(value: Any) -> str:
    """JSON text for a payload; falls back to the stdlib for ints beyond 64 bits.

    The fallback text starts with a space (valid JSON, never emitted by orjson) so that
    ``loads`` knows to parse it with the stdlib: orjson reads such ints back as floats.
    """
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return " " + json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def loads(text: str | bytes | None) -> Any:
    """Inverse of ``dumps`` (lossless for ints of any size)."""
    if text is None:
        return None
    if text[:1] in (" ", b" "):
        return json.loads(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def format_bitstring(key: str, header: dict[str, Any] | None) -> str:
    """A count key as qiskit prints it: hex -> binary padded to memory_slots, registers spaced."""
    if not key.startswith("0x"):
        return key
    bits = bin(int(key, 16))[2:]
    header = header or {}
    slots = header.get("memory_slots")
    # Pad like qiskit does; an absurd memory_slots value must not allocate gigabytes.
    if isinstance(slots, int) and 0 < slots <= MAX_PADDED_BITS:
        bits = bits.zfill(slots)
        cregs = header.get("creg_sizes")
        if isinstance(cregs, list) and cregs and all(
                isinstance(c, list | tuple) and len(c) == 2 and type(c[1]) is int and c[1] >= 0
                for c in cregs):
            parts, start = [], 0
            for _, size in reversed(cregs):
                parts.append(bits[start:start + size])
                start += size
            bits = " ".join(parts)
    return bits


def extract_counts(result: Any) -> list[dict[str, Any]]:
    """The per-experiment histograms of a result dict, tolerant of every recorded shape."""
    rows: list[dict[str, Any]] = []
    if not isinstance(result, dict) or not isinstance(result.get("results"), list):
        return rows
    for i, exp in enumerate(result["results"]):
        data = exp.get("data") if isinstance(exp, dict) else None
        counts = data.get("counts") if isinstance(data, dict) else None
        if not isinstance(counts, dict):
            continue
        header = exp.get("header") if isinstance(exp.get("header"), dict) else None
        for key, count in counts.items():
            if type(count) is int and _INT64_MIN <= count <= _INT64_MAX:  # else only in the JSON
                try:
                    bitstring = format_bitstring(key, header)
                except ValueError:
                    bitstring = key
                rows.append({"experiment": i, "key": key, "bitstring": bitstring, "count": count})
    return rows


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class BlobStore:
    """The Parquet blob files of one archive."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.dir = self.root / BLOB_DIR
        self.dir.mkdir(parents=True, exist_ok=True)

    def _resolve(self, rel: str) -> Path:
        path = (self.root / rel).resolve()
        if path.parent != self.dir.resolve() or not path.name.endswith(_SUFFIX):
            raise BlobIntegrityError(f"blob path {rel!r} points outside {self.dir}")
        return path

    def write(self, entries: Sequence[tuple[str, Any, Any]]) -> BlobFile:
        """Write ``(job_id, qobj, result)`` entries as one durable file; row i is entry i."""
        table = pa.Table.from_pydict(
            {
                "job_id": [e[0] for e in entries],
                "result": [None if e[2] is None else dumps(e[2]) for e in entries],
                "qobj": [None if e[1] is None else dumps(e[1]) for e in entries],
                "counts": [extract_counts(e[2]) for e in entries],
            },
            schema=SCHEMA,
        )
        name = f"{uuid.uuid4().hex}{_SUFFIX}"
        tmp = self.dir / f"{_TMP_PREFIX}{name}"
        pq.write_table(table, tmp, row_group_size=ROW_GROUP_SIZE, compression="zstd",
                       use_dictionary=["job_id"])
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        final = self.dir / name
        os.replace(tmp, final)
        _fsync_dir(self.dir)
        return BlobFile(f"{BLOB_DIR}/{name}", sha256_file(final), final.stat().st_size, len(entries))

    def _open(self, rel: str) -> pq.ParquetFile:
        path = self._resolve(rel)
        try:
            return pq.ParquetFile(path)
        except FileNotFoundError:
            raise BlobIntegrityError(f"blob {rel} is missing") from None
        except (OSError, pa.ArrowException) as err:
            raise BlobIntegrityError(f"blob {rel} is unreadable ({err})") from err

    def _read_rows(self, rel: str, rows: Sequence[int], columns: list[str]) -> pa.Table:
        """The given rows (in that order) of a file, reading only the row groups they need."""
        pf = self._open(rel)
        try:
            if len(rows) == pf.metadata.num_rows and list(rows) == list(range(len(rows))):
                return pf.read(columns=columns)  # the whole file, in order: no take needed
            groups = sorted({r // ROW_GROUP_SIZE for r in rows})
            if len(groups) * 2 > pf.num_row_groups:
                table = pf.read(columns=columns)
                return table.take(pa.array(rows, pa.int64()))
            table = pf.read_row_groups(groups, columns=columns)
            offset = {g: i * ROW_GROUP_SIZE for i, g in enumerate(groups)}
            local = [offset[r // ROW_GROUP_SIZE] + r % ROW_GROUP_SIZE for r in rows]
            return table.take(pa.array(local, pa.int64()))
        except (OSError, pa.ArrowException, IndexError) as err:
            raise BlobIntegrityError(f"blob {rel} is unreadable ({err})") from err

    def read_payloads(self, rel: str, rows: Sequence[int]) -> list[tuple[Any, Any]]:
        """``(qobj, result)`` of each row."""
        table = self._read_rows(rel, rows, ["qobj", "result"])
        return [(loads(q), loads(r)) for q, r in zip(table.column("qobj").to_pylist(),
                                                      table.column("result").to_pylist(),
                                                      strict=True)]

    def read_counts(self, locations: Iterable[tuple[str, int]] | None = None,
                    order: Sequence[str] | None = None) -> pa.Table:
        """Long counts table (job_id, experiment, bitstring, count, key).

        ``locations`` are ``(file, row)`` pairs; None reads every row of every file.
        ``order``: job ids; rows come out grouped in that order (stable within a job).
        """
        jobs = self._read_job_counts(locations)  # one row per job: (job_id, counts list)
        if order is not None and len(order) > 1 and jobs.num_rows > 1:
            # Reorder the jobs (not the flattened rows: far fewer to move).
            rank = pc.index_in(jobs.column("job_id"),
                               value_set=pa.array(list(dict.fromkeys(order)), pa.string()))
            rank = rank.combine_chunks() if isinstance(rank, pa.ChunkedArray) else rank
            if not pc.all(pc.greater_equal(rank[1:], rank[:-1])).as_py():
                jobs = jobs.take(pc.sort_indices(rank))  # Arrow's sort_indices is stable
        return _flatten_counts(jobs)

    def _read_job_counts(self, locations: Iterable[tuple[str, int]] | None) -> pa.Table:
        if locations is None:
            per_file: dict[str, list[int] | None] = {
                f"{BLOB_DIR}/{p.name}": None for p in sorted(self.dir.glob(f"*{_SUFFIX}"))
            }
        else:
            per_file = defaultdict(list)
            for rel, row in locations:
                per_file[rel].append(row)
        parts = []
        for rel, rows in per_file.items():
            if rows is None:
                try:
                    table = self._open(rel).read(columns=["job_id", "counts"])
                except (OSError, pa.ArrowException) as err:
                    raise BlobIntegrityError(f"blob {rel} is unreadable ({err})") from err
            else:
                table = self._read_rows(rel, rows, ["job_id", "counts"])
            parts.append(table)
        if not parts:
            return pa.schema([("job_id", pa.string()), ("counts", pa.list_(COUNT_TYPE))]).empty_table()
        return pa.concat_tables(parts)

    def verify(self, rel: str, sha256: str, size: int | None = None) -> str | None:
        """None if the file is there and matches; else what is wrong."""
        problem = self.verify_exists(rel, size)
        if problem:
            return problem
        if sha256_file(self._resolve(rel)) != sha256:
            return f"blob {rel} does not match its SHA-256 (altered on disk)"
        return None

    def verify_exists(self, rel: str, size: int | None = None) -> str | None:
        """Like ``verify`` without re-hashing: presence and size only."""
        try:
            path = self._resolve(rel)
        except BlobIntegrityError as err:
            return str(err)
        if not path.exists():
            return f"blob {rel} is missing"
        if size is not None and path.stat().st_size != size:
            return f"blob {rel} has {path.stat().st_size} bytes, {size} were written (truncated or altered)"
        return None

    def files(self) -> set[str]:
        """Every blob file on disk, including leftover temp files of interrupted writes."""
        return {f"{BLOB_DIR}/{p.name}" for p in self.dir.iterdir() if p.is_file()}

    def remove(self, rel: str) -> None:
        """Delete one blob file (audit repair of orphans)."""
        self._resolve(rel).unlink(missing_ok=True)


def _flatten_counts(table: pa.Table) -> pa.Table:
    if table.num_rows == 0:
        return COUNTS_SCHEMA.empty_table()
    counts = table.column("counts").combine_chunks()
    parents = pc.list_parent_indices(counts)
    flat = pc.list_flatten(counts)
    job_ids = table.column("job_id").combine_chunks().take(parents)
    return pa.Table.from_arrays(
        [job_ids.cast(pa.string()), flat.field("experiment"), flat.field("bitstring"),
         flat.field("count"), flat.field("key")],
        schema=COUNTS_SCHEMA,
    )
