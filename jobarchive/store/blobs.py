"""Result and qobj blobs in Parquet (the only module that touches Parquet).

One file per written batch, so writing 10,000 results costs a handful of files, not 10,000.
The rows are flat, so that histograms load as plain top-level columns (no nested lists to
decode, no JSON to parse): each job is a *payload row* (``job_id``, ``result`` and ``qobj``
as the exact JSON the server sent, ``n_counts``) followed by its ``n_counts`` *count rows*
(``job_id, experiment, key, bitstring, count``). A job is findable by (file, payload row).
Files are written to a temp name, fsynced, renamed and the directory fsynced: a file that
exists under its final name is complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import os
import re
import threading
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..exceptions import ArchiveWriteError, BlobIntegrityError

# Rows (payload and count rows alike) per row group: about 330 jobs of 48 outcomes, close to
# the 256 jobs a group held before the flat layout. Reading one job decodes one or two groups
# (a few ms); smaller groups compress the result JSON worse (310 vs 226 B/job at 2,048 rows)
# and cost per-group overhead on full reads.
ROW_GROUP_SIZE = 16384
# Reading one job decodes the payload columns of its whole row group, so a group also ends
# once it holds this much payload JSON: 300 jobs of 1.4 MB qobjs (and no counts) made one
# group, and reading one of them took 1.1 s.
GROUP_PAYLOAD_BYTES = 4 << 20
# Decoded row groups kept for reads of one job at a time (about 60 groups of 48-outcome jobs).
_CACHE_BYTES = 32 << 20
MAX_PADDED_BITS = 1 << 16
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
BLOB_DIR = "blobs"
_SUFFIX = ".parquet"
_TMP_PREFIX = ".tmp-"

# Files whose count rows are as qiskit's Counts gives them (commit da8e7a7 and later) say so
# in their metadata. Older files hold other bitstrings for 0b/spaced/creg-only keys and lack
# rows of integral float counts: their counts are read from the result JSON instead.
_COUNTS_FORMAT = (b"jobarchive.counts", b"qiskit-counts")
# Page CRCs came with pyarrow 15: with 14 (the lowest pyproject.toml allows) files are written
# and read without them, as before.
_CHECKSUMS = "write_page_checksum" in inspect.signature(pq.ParquetWriter).parameters
_WRITE_CHECKSUMS = {"write_page_checksum": True} if _CHECKSUMS else {}
_READ_CHECKSUMS = {"page_checksum_verification": True} if _CHECKSUMS else {}
_DICT = pa.dictionary(pa.int32(), pa.string())
# job_id, key and bitstring are written from dictionary arrays: a Parquet file holds them
# dictionary-encoded either way, and files with plain string columns (before 2026-11) read the same.
SCHEMA = pa.schema([
    ("job_id", _DICT),
    ("result", pa.large_string()),
    ("qobj", pa.large_string()),
    ("n_counts", pa.int32()),  # payload rows only: how many count rows follow
    ("experiment", pa.int32()),  # count rows only, like key, bitstring and count
    ("key", _DICT),
    ("bitstring", _DICT),
    ("count", pa.int64()),
], metadata=dict([_COUNTS_FORMAT]))
# Files written before the flat layout: one row a job, histograms in a nested list column.
LEGACY_COUNT_TYPE = pa.struct([
    ("experiment", pa.int32()),
    ("key", pa.string()),
    ("bitstring", pa.string()),
    ("count", pa.int64()),
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
    rows: int  # every row of the file, payload and count rows
    payload_rows: tuple[int, ...] = ()  # the payload row of each written entry, in order


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


def may_hold_unmarked_big_int(raw: bytes) -> bool:
    """Whether JSON text written before ``dumps`` marked its stdlib fallback (commit
    baa9d62) may hold an int beyond 64 bits, which orjson reads as a float: only a text
    with a run of 19 digits can (translate+find, about 1 µs a KB)."""
    return raw[:1] != b" " and _NINETEEN_DIGITS in raw.translate(_DIGITS_AS_ZERO)


_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_NINETEEN_DIGITS = b"0" * 19


def _loads_unmarked(text: str | bytes | None) -> Any:
    """``loads`` for payloads of the nested layout, the only files written before the marker."""
    if text is None:
        return None
    raw = text.encode() if isinstance(text, str) else text
    return json.loads(raw) if may_hold_unmarked_big_int(raw) else loads(text)


def _payload_reader(pf: pq.ParquetFile) -> Callable[[str | bytes | None], Any]:
    return loads if "n_counts" in pf.schema_arrow.names else _loads_unmarked


def _layout(header: dict[str, Any] | None) -> tuple[bool, int | None, tuple[int, ...] | None]:
    """How qiskit's ``Counts`` reads the keys under a header: (whether plain binary keys are
    re-read as numbers, the padding width, register sizes from the leftmost bit)."""
    if not header:
        return False, None, None
    slots, cregs = header.get("memory_slots"), header.get("creg_sizes")
    convert = bool(slots) or bool(cregs)
    # Pad like qiskit does; an absurd memory_slots value must not allocate gigabytes.
    if not (type(slots) is int and 0 < slots <= MAX_PADDED_BITS):
        return convert, None, None
    if not (isinstance(cregs, list) and cregs):
        return convert, slots, None
    sizes = []
    for creg in reversed(cregs):  # a loop, not all(genexpr): this runs per experiment
        if not (isinstance(creg, (list, tuple)) and len(creg) == 2 and type(creg[1]) is int
                and creg[1] >= 0):
            return convert, slots, None
        sizes.append(creg[1])
    return convert, slots, tuple(sizes)


def _format(key: str, layout: tuple[bool, int | None, tuple[int, ...] | None]) -> str:
    """A count key as qiskit's ``Result.get_counts`` prints it (its ``Counts``): hex and
    ``0b`` keys as binary; plain binary keys, spaces and underscores dropped, re-read when
    the header has memory_slots or creg_sizes; padded to memory_slots, registers spaced.
    Raises ValueError where qiskit fails (the caller then keeps the key as sent)."""
    convert, slots, sizes = layout
    if key.startswith(("0x", "0b")):
        value = int(key, 0)
    elif not convert:
        return key
    elif _BITSTRING.match(key):
        value = int(key.replace(" ", "").replace("_", ""), 2)
    else:
        raise ValueError(f"{key!r} is not a bit string")
    if slots is None:
        return bin(value)[2:]
    bits = format(value, f"0{slots}b")
    if sizes is not None:
        parts, start = [], 0
        for size in sizes:
            parts.append(bits[start:start + size])
            start += size
        bits = " ".join(parts)
    return bits


_BITSTRING = re.compile(r"^[01\s]+$")  # qiskit's Counts.bitstring_regex


def _as_count(value: Any) -> int | None:
    """A count as the int64 column holds it: an int, or an integral float (512.0, as JSON
    writers of other languages send it); anything else stays only in the result JSON."""
    if type(value) is float and value.is_integer():
        value = int(value)
    return value if type(value) is int and _INT64_MIN <= value <= _INT64_MAX else None


class _CountColumns:
    """The count rows of a batch, built column by column (per-entry tuples cost more than
    writing the Parquet file). ``add`` only collects each histogram and its header layout;
    ``columns`` flattens them all at once through C-level iteration, formatting each
    distinct key once per layout (the same few keys and headers recur across a batch).

    ``checked=False`` keeps counts unchecked; the caller then checks the count column
    whole (one pyarrow conversion) and rebuilds with ``checked=True`` if any count is not
    an int within int64.
    """

    def __init__(self, checked: bool = True) -> None:
        self.checked = checked
        self._histograms: list[dict[str, Any]] = []
        self._experiments: list[int] = []
        self._layouts: list[tuple[bool, int | None, tuple[int, ...] | None]] = []
        self._bits: dict[Any, dict[str, str]] = {}

    def add(self, result: Any) -> int:
        """Take every histogram of a result dict; returns how many rows they make."""
        exps = result.get("results") if isinstance(result, dict) else None
        if not isinstance(exps, list):
            return 0
        added = 0
        for i, exp in enumerate(exps):
            try:
                counts = exp["data"]["counts"]
            except (KeyError, TypeError):  # not a dict somewhere on the way
                continue
            if not isinstance(counts, dict) or not counts:
                continue
            if self.checked:
                counts = {k: n for k, v in counts.items() if (n := _as_count(v)) is not None}
            header = exp.get("header")
            self._histograms.append(counts)
            self._experiments.append(i)
            self._layouts.append(_layout(header if isinstance(header, dict) else None))
            added += len(counts)
        return added

    def columns(self) -> tuple[np.ndarray, pa.DictionaryArray, pa.DictionaryArray, list[Any]]:
        """(experiment, key, bitstring, count) of every row, in the order added; keys and
        bitstrings dictionary-encoded (the Parquet writer then takes their dictionaries as
        they are instead of hashing every row again)."""
        hists = self._histograms
        lengths = np.fromiter(map(len, hists), np.int64, len(hists))
        keys = pa.array(list(chain.from_iterable(hists)), pa.string()).dictionary_encode()
        counts = list(chain.from_iterable(map(dict.values, hists)))
        codes = keys.indices.to_numpy(zero_copy_only=False)
        distinct = keys.dictionary.to_pylist()
        # Each distinct (layout, key) pair is formatted once; with one layout (the usual
        # batch) the pairs are the keys themselves and nothing is sorted.
        layouts = list(dict.fromkeys(self._layouts))
        if len(layouts) <= 1:
            pairs, rows = np.arange(len(distinct)), codes
        else:
            ids = {layout: i for i, layout in enumerate(layouts)}
            per_histogram = np.fromiter(map(ids.__getitem__, self._layouts), np.int64, len(hists))
            pairs, rows = np.unique(np.repeat(per_histogram, lengths) * len(distinct) + codes,
                                    return_inverse=True)
        bits = []
        for pair in pairs.tolist():
            layout, key = layouts[pair // len(distinct)], distinct[pair % len(distinct)]
            known = self._bits.setdefault(layout, {})
            text = known.get(key)
            if text is None:
                try:
                    text = _format(key, layout)
                except ValueError:
                    text = key
                known[key] = text
            bits.append(text)
        bit_codes = pa.array(bits, pa.string()).dictionary_encode()
        at = bit_codes.indices.to_numpy(zero_copy_only=False)[rows]
        return (np.repeat(np.asarray(self._experiments, np.int32), lengths), keys,
                pa.DictionaryArray.from_arrays(pa.array(at, pa.int32()), bit_codes.dictionary), counts)


def _count_array(counts: list[Any]) -> pa.Array | None:
    """The count column of unchecked counts, or None when one is not an int within int64."""
    try:
        array = pa.array(counts)  # inferred: int64 only if every value is a plain int
    except (pa.ArrowException, OverflowError):
        return None
    if array.null_count:  # a None among the counts
        return None
    if pa.types.is_null(array.type):  # no counts at all
        return array.cast(pa.int64())
    return array if array.type == pa.int64() else None


def extract_counts(result: Any) -> list[dict[str, Any]]:
    """The per-experiment histograms of a result dict, tolerant of every recorded shape."""
    cols = _CountColumns()
    cols.add(result)
    experiment, keys, bits, counts = cols.columns()
    return [{"experiment": int(e), "key": k, "bitstring": b, "count": c}
            for e, k, b, c in zip(experiment, keys.to_pylist(), bits.to_pylist(), counts, strict=True)]


def fsync_path(path: Path) -> None:
    """fsync a file or directory by path (a directory: the names of the files in it)."""
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


def _table(entries: Sequence[tuple[str, Any, Any]], checked: bool) -> tuple[pa.Table | None, list[int]]:
    """The rows of a blob file: per entry a payload row then its count rows; and where each
    payload row is. Unchecked counts: None when one is not an int within int64.

    Columns are built compact (one value a job, one a count) and spread over the file's
    rows, nulls where a row is of the other kind: padding Python lists with a None per row
    costs more than the Parquet encoding.
    """
    results: list[str | None] = []
    qobjs: list[str | None] = []
    n_counts: list[int] = []
    counts = _CountColumns(checked)
    for _, qobj, result in entries:
        n_counts.append(counts.add(result))
        results.append(None if result is None else dumps(result))
        qobjs.append(None if qobj is None else dumps(qobj))
    experiment, keys, bits, count_values = counts.columns()
    count_array = pa.array(count_values, pa.int64()) if checked else _count_array(count_values)
    if count_array is None:
        return None, []
    found = np.asarray(n_counts, np.int64)
    jobs = np.arange(len(found), dtype=np.int64)
    payload_rows = jobs + np.concatenate([[0], np.cumsum(found)[:-1]]).astype(np.int64)
    total = len(found) + int(found.sum())
    is_payload = np.zeros(total, bool)
    is_payload[payload_rows] = True
    is_count = ~is_payload

    def on_payload_rows(values: np.ndarray) -> pa.Array:
        out = np.zeros(total, values.dtype)
        out[payload_rows] = values
        return pa.array(out, mask=is_count)

    def on_count_rows(values: np.ndarray) -> pa.Array:
        out = np.zeros(total, values.dtype)
        out[is_count] = values
        return pa.array(out, mask=is_payload)

    payload = on_payload_rows(jobs)
    columns = [
        pa.DictionaryArray.from_arrays(pa.array(np.repeat(jobs.astype(np.int32), found + 1)),
                                       pa.array([e[0] for e in entries], pa.string())),
        pa.array(results, pa.large_string()).take(payload),
        pa.array(qobjs, pa.large_string()).take(payload),
        on_payload_rows(found.astype(np.int32)),
        on_count_rows(experiment),
        pa.DictionaryArray.from_arrays(on_count_rows(keys.indices.to_numpy(zero_copy_only=False)),
                                       keys.dictionary),
        pa.DictionaryArray.from_arrays(on_count_rows(bits.indices.to_numpy(zero_copy_only=False)),
                                       bits.dictionary),
        on_count_rows(count_array.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)),
    ]
    return pa.Table.from_arrays(columns, schema=SCHEMA), payload_rows.tolist()


def _group_bounds(table: pa.Table) -> list[tuple[int, int]]:
    """Row groups of at most ROW_GROUP_SIZE rows and (beyond their first row)
    GROUP_PAYLOAD_BYTES of result and qobj JSON."""
    sizes = np.zeros(table.num_rows, np.int64)
    for name in ("result", "qobj"):
        lengths = pc.binary_length(table.column(name)).to_numpy(zero_copy_only=False)
        sizes += np.nan_to_num(lengths.astype(np.float64)).astype(np.int64)  # nulls: no bytes
    ends = np.cumsum(sizes)
    bounds, start = [], 0
    while start < table.num_rows:
        before = int(ends[start - 1]) if start else 0
        fits = int(np.searchsorted(ends, before + GROUP_PAYLOAD_BYTES, side="right"))
        stop = max(start + 1, min(start + ROW_GROUP_SIZE, fits, table.num_rows))
        bounds.append((start, stop))
        start = stop
    return bounds


class BlobStore:
    """The Parquet blob files of one archive."""

    def __init__(self, root: Path, *, create: bool = True):
        self.root = Path(root)
        self.dir = self.root / BLOB_DIR
        if create:
            self.dir.mkdir(parents=True, exist_ok=True)
        # Payload columns of recently read row groups, for jobs read one at a time (loops
        # over get() take neighbours from one group). Blob files never change once written.
        self._groups: OrderedDict[tuple[str, int], pa.Table] = OrderedDict()
        self._group_starts: dict[str, tuple[np.ndarray, Callable[[Any], Any]]] = {}
        self._cached_bytes = 0
        self._cache_lock = threading.Lock()

    def _resolve(self, rel: str) -> Path:
        path = (self.root / rel).resolve()
        if path.parent != self.dir.resolve() or not path.name.endswith(_SUFFIX):
            raise BlobIntegrityError(f"blob path {rel!r} points outside {self.dir}")
        return path

    def write(self, entries: Sequence[tuple[str, Any, Any]]) -> BlobFile:
        """Write ``(job_id, qobj, result)`` entries as one durable file.

        Entry i is the payload row ``payload_rows[i]`` of the returned ``BlobFile``.
        """
        table, payload_rows = _table(entries, checked=False)
        if table is None:
            table, payload_rows = _table(entries, checked=True)
        name = f"{uuid.uuid4().hex}{_SUFFIX}"
        tmp = self.dir / f"{_TMP_PREFIX}{name}"
        # Counts are small ints in int64: split into byte streams, zstd squeezes the zero
        # high bytes (39 vs 49 B/job); the few distinct experiments and keys are dictionaries.
        # No statistics: nothing filters on them, and min/max of the JSON cost 20 B/job.
        # A CRC per page: zstd frames carry none, so a flipped bit decoded to other counts or
        # another result, silently, in every read that does not hash the file (_open checks).
        sink = pa.BufferOutputStream()
        with pq.ParquetWriter(sink, SCHEMA, compression="zstd",
                              use_dictionary=["job_id", "experiment", "key", "bitstring"],
                              column_encoding={"count": "BYTE_STREAM_SPLIT"},
                              write_statistics=False, **_WRITE_CHECKSUMS) as writer:
            for start, stop in _group_bounds(table):
                writer.write_table(table.slice(start, stop - start), row_group_size=stop - start)
        data = sink.getvalue()  # hashed in memory: the file is not read back
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException as exc:
            tmp.unlink(missing_ok=True)  # a partial file only takes space (on a full disk, too)
            if isinstance(exc, OSError):
                raise ArchiveWriteError(
                    f"writing a result blob in {self.dir} failed ({exc.strerror or exc}); nothing "
                    "of the batch was written. Free disk space or fix permissions, then run it again."
                ) from exc
            raise
        final = self.dir / name
        os.replace(tmp, final)
        fsync_path(self.dir)
        return BlobFile(f"{BLOB_DIR}/{name}", hashlib.sha256(data).hexdigest(), data.size,
                        table.num_rows, tuple(payload_rows))

    def copy_verified(self, rel: str, sha256: str, size: int, root: Path) -> str | None:
        """Copy one blob file into the archive directory ``root`` (a backup: temp name,
        fsync, rename) if it matches its size and SHA-256; else leave nothing and say what
        is wrong. Errors writing the copy raise ``ArchiveWriteError``."""
        try:
            src = self._resolve(rel)  # the index's path, checked not to leave blobs/
        except BlobIntegrityError as err:
            return str(err)
        final = root / BLOB_DIR / src.name
        tmp = final.with_name(f".tmp-{src.name}")
        digest = hashlib.sha256()
        written = 0
        try:
            fin = open(src, "rb")  # noqa: SIM115 - closed by the with below
        except FileNotFoundError:
            return f"blob {rel} is missing"
        except OSError as err:
            return f"blob {rel} cannot be read ({err.strerror or err})"
        problem = None
        try:
            with fin, open(tmp, "xb") as fout:
                while True:
                    try:
                        chunk = fin.read(1 << 20)
                    except OSError as err:  # EIO of a failing disk: the source's problem
                        problem = f"blob {rel} cannot be read ({err.strerror or err})"
                        break
                    if not chunk:
                        break
                    digest.update(chunk)
                    fout.write(chunk)
                    written += len(chunk)
                if problem is None:
                    fout.flush()
                    os.fsync(fout.fileno())
        except OSError as err:  # the backup's side (reads are handled above)
            tmp.unlink(missing_ok=True)
            raise ArchiveWriteError(f"writing the backup failed ({err.strerror or err}); the archive "
                                    "is unchanged. Free disk space or fix permissions, then run it "
                                    "again.") from err
        if problem is None and written != size:
            problem = f"blob {rel} has {written} bytes, {size} were written (truncated or altered)"
        elif problem is None and digest.hexdigest() != sha256:
            problem = f"blob {rel} does not match its SHA-256 (altered on disk)"
        if problem is not None:
            tmp.unlink()
            return problem
        os.replace(tmp, final)
        return None

    def _open(self, rel: str) -> pq.ParquetFile:
        path = self._resolve(rel)
        try:
            try:
                # Dictionary-encoded strings stay dictionaries until the wanted rows are taken.
                # The files are local: pre-buffering column chunks only adds copies.
                return pq.ParquetFile(path, read_dictionary=_DICT_COLUMNS, pre_buffer=False,
                                      **_READ_CHECKSUMS)
            except KeyError:  # a file of the nested layout has no key/bitstring columns
                return pq.ParquetFile(path, pre_buffer=False, **_READ_CHECKSUMS)
        except FileNotFoundError:
            raise BlobIntegrityError(f"blob {rel} is missing") from None
        except (OSError, pa.ArrowException, ValueError, KeyError) as err:  # a damaged footer
            raise BlobIntegrityError(f"blob {rel} is unreadable ({err})") from err

    def _take(self, pf: pq.ParquetFile, rel: str, rows: np.ndarray, columns: list[str]) -> pa.Table:
        """The given rows (in that order) of a file, reading only the row groups they need
        (or the whole columns when most groups are needed)."""
        try:
            starts = _group_starts(pf, rel, rows)
            total = int(starts[-1])
            if len(rows) == total and np.array_equal(rows, np.arange(total)):
                return pf.read(columns=columns)  # the whole file, in order: no take needed
            group_of = np.searchsorted(starts, rows, side="right") - 1
            groups = np.unique(group_of)
            if len(groups) * 2 > len(starts) - 1:
                table, local = pf.read(columns=columns), rows
            else:
                table = pf.read_row_groups(groups.tolist(), columns=columns)
                sizes = starts[groups + 1] - starts[groups]
                local_start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
                local = rows - starts[group_of] + local_start[np.searchsorted(groups, group_of)]
            return table.take(pa.array(local, pa.int64()))
        except (OSError, pa.ArrowException) as err:
            raise BlobIntegrityError(f"blob {rel} is unreadable ({err})") from err

    def read_payloads(self, rel: str, rows: Sequence[int],
                      job_ids: Sequence[str] | None = None) -> list[tuple[Any, Any]]:
        """``(qobj, result)`` of each payload row; given ``job_ids`` (the index's), each row
        must be that job's, else ``BlobIntegrityError``: an edited index row, or another
        valid file put in this one's place, gave another job's payloads as this job's."""
        if len(rows) == 1:
            return [self._one_payload(rel, int(rows[0]), None if job_ids is None else job_ids[0])]
        pf = self._open(rel)
        columns = ["qobj", "result"] if job_ids is None else ["qobj", "result", "job_id"]
        table = self._take(pf, rel, np.asarray(rows, np.int64), columns)
        if job_ids is not None:
            for row, want, got in zip(rows, job_ids, table.column("job_id").to_pylist(), strict=True):
                _check_owner(rel, row, want, got)
        read = _payload_reader(pf)
        with _decoding(rel):
            return [(read(q), read(r)) for q, r in zip(table.column("qobj").to_pylist(),
                                                          table.column("result").to_pylist(),
                                                          strict=True)]

    def _one_payload(self, rel: str, row: int, job_id: str | None) -> tuple[Any, Any]:
        """One job's payloads through the cache of decoded row groups: decoding a group costs
        about 1 ms, taking one row of it a few µs."""
        pf = None
        known = self._group_starts.get(rel)
        if known is None:
            pf = self._open(rel)
            known = self._group_starts[rel] = (_group_starts(pf, rel, np.empty(0, np.int64)),
                                               _payload_reader(pf))
        starts, read = known
        if not 0 <= row < starts[-1]:
            raise BlobIntegrityError(f"blob {rel} has {starts[-1]} rows; row {row} was asked for")
        group = int(np.searchsorted(starts, row, side="right")) - 1
        with self._cache_lock:
            table = self._groups.get((rel, group))
            if table is not None:
                self._groups.move_to_end((rel, group))
        if table is None:
            try:
                table = (pf or self._open(rel)).read_row_group(group, columns=["qobj", "result", "job_id"])
            except (OSError, pa.ArrowException) as err:
                raise BlobIntegrityError(f"blob {rel} is unreadable ({err})") from err
            with self._cache_lock:
                if (rel, group) not in self._groups:
                    self._groups[(rel, group)] = table
                    self._cached_bytes += table.nbytes
                while self._cached_bytes > _CACHE_BYTES and len(self._groups) > 1:
                    self._cached_bytes -= self._groups.popitem(last=False)[1].nbytes
        at = row - int(starts[group])
        if job_id is not None:
            _check_owner(rel, row, job_id, table.column("job_id")[at].as_py())
        with _decoding(rel):
            return read(table.column("qobj")[at].as_py()), read(table.column("result")[at].as_py())

    def read_counts(self, locations: Iterable[tuple[str, int] | tuple[str, int, str]] | None = None,
                    order: Sequence[str] | None = None,
                    damaged: dict[str, str] | None = None,
                    results: Sequence[tuple[str, Any]] = ()) -> pa.Table:
        """Long counts table (job_id, experiment, bitstring, count, key).

        ``locations`` are ``(file, payload row)`` pairs, or ``(file, payload row, job id)``
        when the caller knows whose row it is (the index does): the file's job_id column is
        then not decoded (a fifth of the read). None reads every job of every file.
        ``order``: job ids; rows come out grouped in that order (stable within a job).
        A missing or unreadable file raises ``BlobIntegrityError``; given a ``damaged`` dict,
        it is left out instead and recorded there (file -> problem). ``results``: ``(job_id,
        result dict)`` of jobs whose histograms are in no file (v1 jobs), after the files'.
        """
        ids: dict[str, list[str]] = defaultdict(list)
        if locations is None:
            per_file: dict[str, list[int] | None] = {
                f"{BLOB_DIR}/{p.name}": None for p in sorted(self.dir.glob(f"*{_SUFFIX}"))
            }
        else:
            per_file = defaultdict(list)
            for rel, row, *job_id in locations:
                per_file[rel].append(row)
                ids[rel].extend(job_id)
        parts: list[pa.Table] = []
        lengths: list[np.ndarray] = []  # rows of each job, in output order

        def read(item: tuple[str, list[int] | None]) -> tuple[pa.Table, np.ndarray] | None:
            rel, rows = item
            known = ids.get(rel)
            try:
                return self._file_counts(rel, rows, known if rows and known and len(known) == len(rows)
                                         else None)
            except BlobIntegrityError as err:
                if damaged is None:
                    raise
                damaged[rel] = str(err)
                return None

        workers = min(len(per_file), os.cpu_count() or 1)
        if workers > 1:  # Arrow decodes without the GIL: files in parallel use every core
            with ThreadPoolExecutor(max_workers=workers) as pool:
                done = list(pool.map(read, per_file.items()))
        else:
            done = [read(item) for item in per_file.items()]
        if results:
            done.append(_results_counts(results))
        for table, n in filter(None, done):
            parts.append(table)
            lengths.append(n)
        if not parts:
            return COUNTS_SCHEMA.empty_table()
        out = pa.concat_tables(parts)
        if order is not None and len(order) > 1 and out.num_rows:
            out = _reorder_jobs(out, np.concatenate(lengths), order)
        return out

    def _file_counts(self, rel: str, rows: list[int] | None,
                     ids: list[str] | None = None) -> tuple[pa.Table, np.ndarray]:
        """Count rows of the jobs at payload ``rows`` (None: every job) of one file, in that
        order, as COUNTS_SCHEMA; and how many rows each job has. ``ids``: the job at each
        of ``rows``, when known (the job_id column is then not read)."""
        pf = self._open(rel)
        if (pf.metadata.metadata or {}).get(_COUNTS_FORMAT[0]) != _COUNTS_FORMAT[1]:
            return self._counts_from_results(pf, rel, rows)
        columns = _COUNT_COLUMNS if ids is None else _COUNT_COLUMNS[1:]
        try:
            payload = None if rows is None else np.asarray(rows, np.int64)
            if payload is None or _most_groups(_group_starts(pf, rel, payload), payload):
                # One pass over the whole count columns. The payload rows are where `count`
                # is null, so n_counts need not be read: a job's counts run to the next one.
                table = pf.read(columns=columns, use_threads=False)
                valid = table.column("count").is_valid()
                jobs_at = np.flatnonzero(~np.asarray(valid.to_numpy(zero_copy_only=False), bool))
                n_all = np.diff(np.append(jobs_at, table.num_rows)) - 1
                if payload is None or (len(payload) == len(jobs_at)
                                       and np.array_equal(payload, jobs_at)):
                    # Every job of the file, in file order: its count rows are all the others.
                    n = n_all
                    table = table.filter(valid)
                else:
                    at = np.minimum(np.searchsorted(jobs_at, payload), len(jobs_at) - 1)
                    if not np.array_equal(jobs_at[at], payload):
                        raise BlobIntegrityError(
                            f"blob {rel}: a requested row is not a job's payload row")
                    n = n_all[at]
                    table = table.take(pa.array(_ranges(payload + 1, n), pa.int64()))
            else:
                n = _payload_counts(self._take(pf, rel, payload, ["n_counts"]).column("n_counts"), rel)
                table = self._take(pf, rel, _ranges(payload + 1, n), columns)
        except (OSError, pa.ArrowException, KeyError) as err:  # KeyError: a column name damaged
            raise BlobIntegrityError(f"blob {rel} is unreadable ({err})") from err
        with _decoding(rel):
            if table.column("count").null_count:
                raise BlobIntegrityError(f"blob {rel}: n_counts does not match its count rows")
            if ids is not None:
                table = table.add_column(0, "job_id", pa.DictionaryArray.from_arrays(
                    pa.array(np.repeat(np.arange(len(ids), dtype=np.int32), n)),
                    pa.array(ids, pa.string())))
            return _as_counts(table), n[n > 0]

    def _counts_from_results(self, pf: pq.ParquetFile, rel: str,
                             rows: list[int] | None) -> tuple[pa.Table, np.ndarray]:
        """``_file_counts`` of a file written before its count rows matched qiskit's (or of
        the nested layout): the histograms of its result JSON, as a new file holds them."""
        nested = "n_counts" not in pf.schema_arrow.names
        columns = ["job_id", "result"] + ([] if nested else ["n_counts"])
        if rows is None:  # every job: one read of the file, its payload rows kept
            try:
                table = pf.read(columns=columns, use_threads=False)
            except (OSError, pa.ArrowException) as err:
                raise BlobIntegrityError(f"blob {rel} is unreadable ({err})") from err
            if not nested:
                table = table.filter(table.column("n_counts").is_valid())
        else:
            table = self._take(pf, rel, np.asarray(rows, np.int64), columns)
            if not nested and table.column("n_counts").null_count:
                raise BlobIntegrityError(f"blob {rel}: a requested row is not a job's payload row")
        read = _payload_reader(pf)
        cols = _CountColumns(checked=True)
        with _decoding(rel):
            n = np.asarray([cols.add(read(text)) for text in table.column("result").to_pylist()],
                           np.int64)
        experiment, keys, bits, counts = cols.columns()
        job_ids = table.column("job_id").cast(pa.string()).take(
            pa.array(np.repeat(np.arange(len(n)), n), pa.int64()))
        out = pa.Table.from_arrays(
            [job_ids, pa.array(experiment, pa.int32()), bits.cast(pa.string()),
             pa.array(counts, pa.int64()), keys.cast(pa.string())], schema=COUNTS_SCHEMA)
        return out, n[n > 0]

    def verify(self, rel: str, sha256: str, size: int | None = None) -> str | None:
        """None if the file is there and matches; else what is wrong."""
        problem = self.verify_exists(rel, size)
        if problem:
            return problem
        if self.file_sha256(rel) != sha256:
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
        """Every blob file on disk, including leftover temp files of interrupted writes.

        Only names jobarchive writes (``*.parquet``, temp files included): anything else in
        the directory (``.DS_Store``, a note) is not ours, see ``foreign_files``.
        """
        return {f"{BLOB_DIR}/{p.name}" for p in self.dir.iterdir()
                if p.is_file() and p.name.endswith(_SUFFIX)}

    def foreign_files(self) -> list[str]:
        """Entries of the blob directory jobarchive did not write (never removed by it)."""
        return sorted(f"{BLOB_DIR}/{p.name}" for p in self.dir.iterdir()
                      if not (p.is_file() and p.name.endswith(_SUFFIX)))

    def file_sha256(self, rel: str) -> str:
        """SHA-256 of one blob file as it is on disk now."""
        return sha256_file(self._resolve(rel))

    def payload_jobs(self, rel: str) -> tuple[np.ndarray, list[str]]:
        """(payload rows in file order, the job id of each): the rows that ``read_payloads``
        may be given and whose job they hold. Reads the ``job_id`` and ``n_counts`` columns
        once; every row of a file of the nested layout is a payload row."""
        pf = self._open(rel)
        try:
            if "n_counts" not in pf.schema_arrow.names:
                ids = pf.read(columns=["job_id"], use_threads=False).column("job_id")
                rows = np.arange(len(ids), dtype=np.int64)
            else:
                table = pf.read(columns=["job_id", "n_counts"], use_threads=False)
                valid = table.column("n_counts").is_valid()
                rows = np.flatnonzero(np.asarray(valid.to_numpy(zero_copy_only=False), bool))
                ids = table.column("job_id").take(pa.array(rows, pa.int64()))
            return rows.astype(np.int64), ids.cast(pa.string()).to_pylist()
        except (OSError, pa.ArrowException) as err:
            raise BlobIntegrityError(f"blob {rel} is unreadable ({err})") from err

    def payload_contents(self, rel: str) -> tuple[list[str], np.ndarray, np.ndarray]:
        """(job id, holds a qobj, holds a result) of each payload row of a file, the payload
        text decoded but not parsed (for the few files no index row points to)."""
        pf = self._open(rel)
        try:
            nested = "n_counts" not in pf.schema_arrow.names
            table = pf.read(columns=["job_id", "qobj", "result", *([] if nested else ["n_counts"])],
                            use_threads=False)
            if not nested:
                table = table.filter(table.column("n_counts").is_valid())
            return (table.column("job_id").cast(pa.string()).to_pylist(),
                    *(np.asarray(table.column(name).is_valid().to_numpy(zero_copy_only=False), bool)
                      for name in ("qobj", "result")))
        except (OSError, pa.ArrowException, KeyError) as err:
            raise BlobIntegrityError(f"blob {rel} is unreadable ({err})") from err

    def remove(self, rel: str) -> None:
        """Delete one blob file (audit repair of orphans)."""
        self._resolve(rel).unlink(missing_ok=True)


_COUNT_COLUMNS = ["job_id", "experiment", "key", "bitstring", "count"]
_DICT_COLUMNS = ["job_id", "key", "bitstring"]


def _check_owner(rel: str, row: int, want: str, got: Any) -> None:
    if got != want:
        raise BlobIntegrityError(
            f"blob {rel}: row {row} holds the payloads of {got!r}, not of {want!r} (the index "
            "row or the file was changed outside jobarchive)")


@contextlib.contextmanager
def _decoding(rel: str) -> Iterator[None]:
    """Payloads that do not decode (text that is not UTF-8 or not JSON, a column the footer
    no longer names) are a damaged file, said as such: files written before page checksums
    (or a bit flipped outside a page) decode to garbage rather than fail in pyarrow."""
    try:
        yield
    # UnicodeDecodeError, JSONDecodeError; ArrowIndexError: a dictionary index past its end
    except (ValueError, KeyError, pa.ArrowException) as err:
        raise BlobIntegrityError(f"blob {rel} is unreadable ({type(err).__name__}: {err})") from err


def _group_starts(pf: pq.ParquetFile, rel: str, rows: np.ndarray) -> np.ndarray:
    """First row of each row group, then the row count; checks ``rows`` are in the file."""
    meta = pf.metadata
    starts = np.zeros(meta.num_row_groups + 1, np.int64)
    np.cumsum([meta.row_group(g).num_rows for g in range(meta.num_row_groups)], out=starts[1:])
    if len(rows) and (rows.min() < 0 or rows.max() >= starts[-1]):
        raise BlobIntegrityError(f"blob {rel} has {starts[-1]} rows; rows {int(rows.min())}.."
                                 f"{int(rows.max())} were asked for")
    return starts


def _most_groups(starts: np.ndarray, payload: np.ndarray) -> bool:
    """Whether the jobs at these payload rows touch more than half of the row groups (then
    one read of the whole columns beats reading the groups). Counts follow their payload
    row, so the groups of the payload rows alone decide it."""
    return len(np.unique(np.searchsorted(starts, payload, side="right"))) * 2 > len(starts) - 1


def _payload_counts(n_col: pa.ChunkedArray | pa.Array, rel: str) -> np.ndarray:
    if n_col.null_count:
        raise BlobIntegrityError(f"blob {rel}: a requested row is not a job's payload row")
    return np.asarray(n_col.to_numpy(), np.int64)


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The concatenated ranges ``starts[i] .. starts[i] + lengths[i] - 1``."""
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, np.int64)
    ends = np.cumsum(lengths)
    return np.arange(total, dtype=np.int64) + np.repeat(starts - (ends - lengths), lengths)


def _results_counts(results: Sequence[tuple[str, Any]]) -> tuple[pa.Table, np.ndarray]:
    """Count rows of ``(job_id, result dict)`` pairs as COUNTS_SCHEMA, and rows per job."""
    cols = _CountColumns()
    lengths = np.fromiter((cols.add(result) for _, result in results), np.int64, len(results))
    experiment, keys, bits, counts = cols.columns()
    job_ids = np.repeat(np.array([job_id for job_id, _ in results], object), lengths)
    return pa.Table.from_arrays(
        [pa.array(job_ids, pa.string()), pa.array(experiment, pa.int32()), bits.cast(pa.string()),
         pa.array(counts, pa.int64()), keys.cast(pa.string())], schema=COUNTS_SCHEMA), lengths


def _as_counts(table: pa.Table) -> pa.Table:
    """Count columns (strings possibly dictionary-encoded) as COUNTS_SCHEMA."""
    return pa.Table.from_arrays(
        [table.column(f.name).cast(f.type) for f in COUNTS_SCHEMA], schema=COUNTS_SCHEMA)


def _reorder_jobs(table: pa.Table, lengths: np.ndarray, order: Sequence[str]) -> pa.Table:
    """Move whole jobs (runs of ``lengths`` rows) into the order of ``order`` (stable)."""
    ends = np.cumsum(lengths)
    starts = ends - lengths
    first_ids = table.column("job_id").take(pa.array(starts, pa.int64()))
    rank = pc.index_in(first_ids, value_set=pa.array(list(dict.fromkeys(order)), pa.string()))
    rank = rank.combine_chunks() if isinstance(rank, pa.ChunkedArray) else rank
    rank_np = rank.fill_null(len(order)).to_numpy()
    if len(rank_np) < 2 or np.all(rank_np[1:] >= rank_np[:-1]):
        return table
    perm = np.argsort(rank_np, kind="stable")
    return table.take(pa.array(_ranges(starts[perm], lengths[perm]), pa.int64()))
