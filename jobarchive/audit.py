"""Archive audits: storage integrity, and reproducibility of what the archive holds.

Integrity (always): every blob is present with its recorded size and (``verify=True``) its
SHA-256; every job points to a blob row that exists; with ``verify`` also that the row is
that job's payload row, that its stored doc parses as a record, that the index columns
queries filter on agree with that doc, that ``job_tags`` matches its tags, and that no blob
the index uses holds payloads of a job the index has no row for (a deleted row).
The index is read in one snapshot (a concurrent writer's commit never shows half). These
findings set ``ok=False`` and ``problem``. Reproducibility (always reported, informational): DONE jobs carry a result and
a qobj, the backend and client version are recorded. ``reproduce=True`` re-runs each stored
qobj on qiskit's BasicSimulator and compares the counts with the stored ones by Hellinger
fidelity. The re-run is ideal: a simulator job should match it (below ``threshold`` it is
flagged), while a device job differs by its noise, so it is flagged only below
``device_threshold`` (counts that do not look like the circuit at all). A flagged job counts
as a problem of that audit.

Nothing is read from a blob that failed its check, and every read is guarded, so a tampered
or truncated file is reported, never raised from inside pyarrow.

Repair runs under the index's write lock (writers hold it from before their blob file to
their commit, so nothing it sees unreferenced is in flight) and never deletes a file that
may hold the only copy of needed data. Versions before 104d7d5 write their blob before
taking that lock: in an archive upgraded from them (where such a process may still write),
unknown files younger than ``OLDER_WRITER_GRACE_S`` are kept.
"""

from __future__ import annotations

import contextlib
import copy
import math
import random
import sys
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .exceptions import BlobIntegrityError
from .status import ApiJobKind
from .store.blobs import loads
from .store.index import JobFilter, marked_doc, payload_sizes, row_from_record, v1_experiments

if TYPE_CHECKING:
    from .archive import Archive

AUDIT_COLUMNS = ("job_id", "ok", "problem", "blob_ok", "status", "creation_date", "backend_name",
                 "provider", "client_version", "has_result", "has_qobj", "complete",
                 "provenance", "fidelity", "flagged", "notes")
_READ_CHUNK = 256
# Jobs judged at a time: their findings become a part of the frame before the next ones are
# read (a job's findings take about 1.7 KB as Python objects, its frame row a tenth of that).
CHUNK_JOBS = 20_000
# Jobs whose payloads are read together when reproducing, a blob file at a time (a read
# decodes the file's row group: with files that mix dates every chunk of 20,000 needs every
# file, and 10^6 jobs took 199 s instead of 114 s).
REPRODUCE_JOBS = 100_000
# An ideal re-run of a device job differs by the device's noise (readout error alone takes a
# few percent off; deep circuits much more): only counts that hardly overlap the circuit's
# are evidence that the stored result is not what this qobj produced.
DEVICE_THRESHOLD = 0.5


def is_simulator(backend_name: str | None) -> bool:
    """Whether a backend name is a simulator's (``ibmq_qasm_simulator``, ``simulator_mps``...)."""
    return bool(backend_name) and "simulator" in str(backend_name).lower()


def note_kind(note: str) -> str:
    """The kind of an audit note, without its numbers and names (to count notes by kind)."""
    if note.startswith("sampling noise"):
        return "sampling noise (many outcomes for the shots: an intact re-run differs)"
    if note.startswith("device noise"):
        return "device noise (below the simulator threshold, as expected)"
    if note.startswith("client version not recorded"):
        return "client version not recorded"
    if note.startswith("client name not recorded"):
        return "client name not recorded"
    if note.startswith("not reproduced"):
        return "not reproduced"
    if note.startswith(_OLD_COUNT):
        return "num_experiments of a partial result (versions before 66c39d9)"
    if note.startswith(_NEWER_NOTE):
        return "an orphan blob holds a result or qobj the index lacks (index.db older than its blobs?)"
    if note.startswith("DONE without"):
        kind, v1, _ = note.partition(" in the archive's payload format")
        return kind + (" (v1 jobs: their payloads are in qasms)" if v1 else "")
    return note


def note_kind_counts(notes: pd.Series) -> pd.Series:
    """Jobs per kind of note (``note_kind``) in audit ``notes`` texts, in the order of
    ``notes.str.split("; ").explode().map(note_kind).value_counts()``; counted per distinct
    text (splitting the notes of every job took 0.2 GB for 10^6 jobs, which share a few)."""
    kinds: dict[str, int] = {}
    for text, jobs in notes.dropna().value_counts(sort=False).items():
        for kind in map(note_kind, text.split("; ")):
            kinds[kind] = kinds.get(kind, 0) + int(jobs)
    return pd.Series(kinds, dtype="int64", name="count").sort_values(ascending=False,
                                                                     kind="stable")


def _shown(value: Any) -> str:
    """A stored value in a note (notes are joined by "; ", so none may hold one)."""
    text = value if isinstance(value, str) else repr(value)
    text = text.replace(";", ",")
    return text if len(text) <= 80 else text[:77] + "..."


def _client_gap(client_info: Any) -> str | None:
    """What the job's ``client_info`` leaves unsaid about the client that submitted it (its
    name, or the version of one of its parts), or None when it names each part's version.
    Read as upstream's ``client_version`` does: ``"qiskit-terra,qiskit-ibmq-provider"`` with
    ``"0.16.1,0.11.1"`` is two clients, any other name is one."""
    if not isinstance(client_info, dict) or not client_info:
        return "client version not recorded"
    name, version = client_info.get("name"), client_info.get("version")
    if not isinstance(name, str) or not name.strip():
        return f"client name not recorded (client_info: {_shown(client_info)})"
    if name.startswith("qiskit") and isinstance(version, str):
        names, versions = name.split(","), version.split(",")
        lacking = [n.strip() for i, n in enumerate(names)
                   if i >= len(versions) or not versions[i].strip()]
        if len(lacking) == len(names):
            return f"client version not recorded (only its name: {_shown(name)})"
        if lacking:
            return (f"client version not recorded for {_shown(', '.join(lacking))} (client_info "
                    f"name {_shown(name)}, version {_shown(version)})")
        return None
    if version is None or (isinstance(version, str) and not version.strip()):
        return f"client version not recorded (only its name: {_shown(name)})"
    return None


def _client_gap_text(client_version: str | None) -> str | None:
    """``_client_gap`` from the index's client text alone (``name==version,...``; a null
    version is the name only), when the audit reads no doc."""
    if not client_version:
        return "client version not recorded"
    parts = [part.partition("==") for part in str(client_version).split(",")]
    if any(sep and (not n.strip() or n.strip() in ("None", "unknown")) for n, sep, _ in parts):
        return f"client name not recorded (client version {_shown(client_version)})"
    lacking = [n.strip() for n, sep, v in parts if not sep or not v.strip()]
    if len(lacking) == len(parts):
        return f"client version not recorded (only its name: {_shown(client_version)})"
    if lacking:
        return (f"client version not recorded for {_shown(', '.join(lacking))} (client version "
                f"{_shown(client_version)})")
    return None


def hellinger_fidelity(p: Mapping[Any, float], q: Mapping[Any, float]) -> float:
    """Hellinger fidelity of two count histograms: (sum_i sqrt(p_i q_i))^2 after normalizing.

    The same quantity as ``qiskit.quantum_info.hellinger_fidelity``; 1.0 for identical
    distributions, 0.0 for disjoint ones.
    """
    np_, nq = sum(p.values()), sum(q.values())
    if np_ <= 0 or nq <= 0:
        return 1.0 if np_ == nq else 0.0
    # Identical distributions (exactly, in integer arithmetic for counts) are 1.0, and only
    # they: the float sum below can land on 0.9999999999999998 for them, which a
    # threshold of 1.0 ("reproduced exactly") would flag.
    seen_p = {k: v for k, v in p.items() if v}
    seen_q = {k: v for k, v in q.items() if v}
    if seen_p.keys() == seen_q.keys() and all(v * nq == seen_q[k] * np_
                                              for k, v in seen_p.items()):
        return 1.0
    overlap = sum(math.sqrt(p[k] / np_ * q[k] / nq) for k in p.keys() & q.keys())
    return min(math.nextafter(1.0, 0.0), overlap * overlap)


def _key_value(key: str) -> int | str:
    """A count key as an integer outcome: ``"0x3"`` (hex), ``"0b11"``, ``"1 1"``/``"11"``
    (binary), as qiskit's ``Counts`` (and ``counts()``) read them."""
    if key.startswith(("0x", "0b")):
        try:
            return int(key, 0)
        except ValueError:
            return key
    bits = key.replace(" ", "")
    if bits and set(bits) <= {"0", "1"}:
        return int(bits, 2)
    return key


def _histograms(result: Any) -> list[dict[Any, int] | None]:
    """Per experiment, the counts of a result dict keyed by integer outcome (None if absent)."""
    out: list[dict[Any, int] | None] = []
    results = result.get("results") if isinstance(result, dict) else None
    for exp in results if isinstance(results, list) else []:
        data = exp.get("data") if isinstance(exp, dict) else None
        counts = data.get("counts") if isinstance(data, dict) else None
        if not isinstance(counts, dict):
            out.append(None)
            continue
        hist: dict[Any, int] = defaultdict(int)
        for key, n in counts.items():
            if isinstance(key, str) and isinstance(n, int | float) and not isinstance(n, bool):
                hist[_key_value(key)] += n
        out.append(dict(hist))
    return out


def _memory_histogram(memory: list[Any], i: int) -> tuple[dict[Any, int] | None, str]:
    """The histogram of meas_level 2 memory (one outcome string per shot), or what is wrong."""
    hist: dict[Any, int] = defaultdict(int)
    for shot, key in enumerate(memory):
        if not isinstance(key, str):
            return None, (f"experiment {i} of the stored result has memory entry {shot} "
                          f"{_shown(key)}, not an outcome")
        hist[_key_value(key)] += 1
    return dict(hist), ""


def _is_iq(value: Any) -> bool:
    return (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value))


def _iq_problem(exp: dict[str, Any], memory: list[Any], i: int, shots: int | None) -> str:
    """What makes meas_level 1 memory (IQ points: per shot and slot with meas_return "single",
    per slot with "avg") other than what a run records, or ""."""
    single = exp.get("meas_return") == "single" or (
        exp.get("meas_return") is None and isinstance(memory[0], list) and bool(memory[0])
        and isinstance(memory[0][0], list))
    if single and shots and len(memory) != shots:
        return (f"experiment {i} of the stored result has {len(memory)} memory entries, but "
                f"it ran {shots} shots")
    shots_of = memory if single else [memory]
    slots = None
    for shot, points in enumerate(shots_of):
        where = f"shot {shot}" if single else "its average"
        if not isinstance(points, list) or not all(_is_iq(p) for p in points):
            return (f"experiment {i} of the stored result has IQ memory whose {where} is not "
                    f"a list of [I, Q] number pairs ({_shown(points)})")
        if slots is None:
            slots = len(points)
        elif len(points) != slots:
            return (f"experiment {i} of the stored result has IQ memory with {len(points)} "
                    f"memory slots in shot {shot} but {slots} in shot 0")
    return ""


def _stored_histograms(result: Any) -> tuple[list[dict[Any, int] | None], str, list[int]]:
    """Per experiment, the stored outcomes of a result: its counts, else the histogram of its
    per-shot memory (meas_level 2); what makes them other than one run's record (memory
    entries not one per shot, counts that disagree with the memory next to them, IQ memory
    out of shape), or ""; and the experiments holding meas_level 1 (IQ) data, which a re-run
    (ideal, outcomes only) has nothing to compare with."""
    stored = _histograms(result)
    results = result.get("results") if isinstance(result, dict) else None
    iq: list[int] = []
    for i, exp in enumerate(results if isinstance(results, list) else []):
        data = exp.get("data") if isinstance(exp, dict) else None
        memory = data.get("memory") if isinstance(data, dict) else None
        if not isinstance(memory, list) or not memory:
            continue  # an empty memory (a circuit that measures nothing) records no shots
        shots = exp.get("shots")
        shots = shots if type(shots) is int and shots > 0 else None
        level = exp.get("meas_level")
        if level in (0, 1) or (level is None and isinstance(memory[0], list)):
            iq.append(i)
            stored[i] = None
            problem = _iq_problem(exp, memory, i, shots) if level != 0 else ""
            if problem:
                return stored, problem, iq
            continue
        hist, problem = _memory_histogram(memory, i)
        if problem:
            return stored, problem, iq
        if shots and len(memory) != shots:
            return stored, (f"experiment {i} of the stored result has {len(memory)} memory "
                            f"entries, but it ran {shots} shots"), iq
        counts = stored[i]
        if counts is None:
            stored[i] = hist
        elif {k: v for k, v in counts.items() if v} != hist:
            return stored, (f"experiment {i} of the stored result has counts that disagree "
                            "with its per-shot memory (the two records of one run)"), iq
    return stored, "", iq


def _sample_sizes(result: Any, histograms: list[dict[Any, int] | None]) -> list[float | None]:
    """Per experiment, the shots behind its stored histogram when the values are not whole
    counts (fractions, as some writers store them): their sum is no sample size. None: the
    counts' sum is."""
    results = result.get("results") if isinstance(result, dict) else None
    out: list[float | None] = []
    for i, hist in enumerate(histograms):
        exp = results[i] if isinstance(results, list) and i < len(results) else None
        shots = exp.get("shots") if isinstance(exp, dict) else None
        values = list(hist.values()) if hist else []
        # Whole floats summing to at most 1 are fractions too ({"0x1": 1.0}).
        fractional = any(isinstance(v, float) and not v.is_integer() for v in values) or (
            bool(values) and all(isinstance(v, float) for v in values) and sum(values) <= 1.0)
        out.append(shots if fractional and isinstance(shots, int) and not isinstance(shots, bool)
                   and shots > 0 else None)
    return out


def _stored_seed(result: Any) -> int | None:
    results = result.get("results") if isinstance(result, dict) else None
    if isinstance(results, list) and results and isinstance(results[0], dict):
        seed = results[0].get("seed_simulator")
        if isinstance(seed, int) and not isinstance(seed, bool):
            return seed
    return None


def sampling_fidelity(p: Mapping[Any, float], q: Mapping[Any, float],
                      n_p: float | None = None) -> float:
    """About the Hellinger fidelity that two independent samples of one distribution have,
    given their shots and the outcomes they show: ``1 - (k - 1) / 4 * (1/n_p + 1/n_q)``
    (k outcomes; at least 0). Two Bell runs of 1000 shots: 0.9985; two 1024-shot runs of a
    10-qubit superposition: about 0.5, however intact the stored result is. ``n_p``: the
    shots behind ``p`` when its values are not counts (fractions summing to 1)."""
    n_p, n_q = (sum(p.values()) if n_p is None else n_p), sum(q.values())
    if n_p <= 0 or n_q <= 0:
        return 1.0
    k = len({key for key, v in p.items() if v} | {key for key, v in q.items() if v})
    return max(0.0, 1.0 - (k - 1) / 4.0 * (1.0 / n_p + 1.0 / n_q))


# The fidelity of a new sample may fall this many times further below 1 than
# sampling_fidelity expects before it says anything (measured: up to 2.2 times).
SAMPLING_SLACK = 4.0
# That linear allowance is below 0 once sampling_fidelity is under 0.75 (a 1024-shot job of
# 10 qubits): nothing at all would be flagged, not even another job's result (fidelity
# 0.001). Where the expectation is sound (at least 0.5), intact samples keep more than 0.4
# of it (measured over 400 random circuits of 3-12 qubits, 16-1024 shots): the limit never
# goes below SAMPLING_FLOOR * expected**2.
SAMPLING_FLOOR = 1.0 / 8.0


# Few outcomes: 1 - fidelity of two intact samples goes as a chi-square of k - 1 degrees
# (its mean is what sampling_fidelity takes off), whose tail is long: with 4 outcomes one
# intact job in 300 fell 4 times further than the mean (a 64-shot job flagged 'reproduced
# counts differ'). The allowance is at least the 1e-5 tail of that chi-square
# (Wilson-Hilferty's approximation of its quantile).
_TAIL_Z = 4.265


def _chi2_tail_ratio(dof: int) -> float:
    """How many times its mean a chi-square of ``dof`` degrees exceeds once in 100,000."""
    if dof < 1:
        return 1.0
    h = 2.0 / (9.0 * dof)
    return (1.0 - h + _TAIL_Z * math.sqrt(h)) ** 3


def _sampling_limit(p: Mapping[Any, float], q: Mapping[Any, float],
                    n_p: float | None = None) -> float:
    """The lowest fidelity an intact sample ``p`` may show to a new sample ``q`` of the same
    circuit (``n_p`` as in ``sampling_fidelity``)."""
    expected = sampling_fidelity(p, q, n_p)
    k = len({key for key, v in p.items() if v} | {key for key, v in q.items() if v})
    linear = 1.0 - max(SAMPLING_SLACK, _chi2_tail_ratio(k - 1)) * (1.0 - expected)
    return max(linear, SAMPLING_FLOOR * expected * expected) if expected >= 0.5 else linear


_DAMAGED = "stored counts are not a histogram: "
_DAMAGED_MEMORY = "stored memory is not one run's record: "


def _whole_counts(hist: Mapping[Any, float]) -> bool:
    """Whether a histogram's values are counts of shots (ints, or floats such as 512.0),
    not fractions (floats summing to at most 1, as ``_sample_sizes`` reads them)."""
    values = list(hist.values())
    if not all(type(v) is int or (isinstance(v, float) and v.is_integer()) for v in values):
        return False
    return not (all(isinstance(v, float) for v in values) and sum(values) <= 1.0)


def _number(value: float) -> str:
    """A count as a person writes it (2000, not 2000.0)."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _rerun(qobj: Any, result: Any, shots: int | None, seed: int,
           max_qubits: int) -> tuple[list[tuple[float, float, float]], str]:
    """Per experiment (fidelity, the fidelity sampling alone would give, the lowest an intact
    sample may show), and a note."""
    from .qobj import circuits_from_qobj, simulate_qobj

    stored, damage, iq = _stored_histograms(result)
    if damage:
        return [], _DAMAGED_MEMORY + damage
    iq_note = (f"not reproduced: experiment(s) {', '.join(map(str, iq))} hold IQ (meas_level 1) "
               "or raw (meas_level 0) data, checked for shape only (an ideal re-run gives "
               "outcomes, not IQ points)") if iq else ""
    if not stored or all(h is None for h in stored):
        return [], iq_note or "no stored counts to compare"
    results = result["results"]
    for i, hist in enumerate(stored):
        negative = sorted((str(k), v) for k, v in (hist or {}).items() if v < 0)
        if negative:  # no run counts an outcome fewer than 0 times
            key, value = negative[0]
            return [], (f"{_DAMAGED}experiment {i} of the stored result counts {value} for "
                        f"outcome {_shown(key)}: no run produced it")
        # A run measures into its memory slots: a wider outcome is another circuit's.
        header = results[i].get("header") if isinstance(results[i], dict) else None
        slots = header.get("memory_slots") if isinstance(header, dict) else None
        wider = sorted(k for k, v in (hist or {}).items()
                       if v and type(slots) is int and slots >= 0 and isinstance(k, int)
                       and k >> slots)
        if wider:
            return [], (f"{_DAMAGED}experiment {i} of the stored result counts outcome "
                        f"{hex(wider[0])}, beyond its {slots} memory slots")
        # Every shot of a run is counted once (meas_level 2): whole counts whose total is
        # not the experiment's shots were changed after the run, whatever their shape or
        # number type (512.0 counts as 512; only fractions summing to 1 are no histogram).
        exp_shots = results[i].get("shots") if isinstance(results[i], dict) else None
        if hist and type(exp_shots) is int and exp_shots > 0 and _whole_counts(hist) \
                and sum(hist.values()) != exp_shots:
            return [], (f"{_DAMAGED}experiment {i} of the stored result counts "
                        f"{_number(sum(hist.values()))} shots, but it ran {exp_shots}")
        # Fractions are normalized before they are compared: they must total 1 (or the
        # shots, counts scaled by a mitigation), or part of the distribution is gone.
        if hist and not _whole_counts(hist):
            try:
                total = math.fsum(hist.values())
            except OverflowError:  # an int beyond a float next to a fraction
                total = math.inf
            wanted = (1.0, float(exp_shots)) if type(exp_shots) is int and exp_shots > 0 \
                else (1.0,)
            if not any(math.isclose(total, w, rel_tol=1e-6) for w in wanted):
                return [], (f"{_DAMAGED}experiment {i} of the stored result has fractions that "
                            f"total {total:.6g}, not 1" + (f" or its {exp_shots} shots"
                                                           if len(wanted) > 1 else ""))
    try:
        circuits = circuits_from_qobj(qobj)
        widest = max(c.num_qubits for c in circuits)
        if widest > max_qubits:
            return [], f"not reproduced: {widest} qubits > max_qubits={max_qubits}"
        if len(circuits) != len(stored):
            return [], (f"not reproduced: the qobj has {len(circuits)} experiments, "
                        f"the result {len(stored)}")
        if shots is not None:
            qobj = copy.deepcopy(qobj)
            qobj.setdefault("config", {})["shots"] = int(shots)
            for exp in qobj["experiments"]:
                if isinstance(exp.get("config"), dict):
                    exp["config"].pop("shots", None)
        rerun = simulate_qobj(qobj, seed=_stored_seed(result) if _stored_seed(result) is not None
                              else seed)
    except ValueError as err:
        return [], f"not reproduced: {err}"
    except Exception as err:  # a simulator failure on one job must not stop the audit
        return [], f"not reproduced: {type(err).__name__}: {err}"
    sizes = _sample_sizes(result, stored)
    try:
        pairs = [(hellinger_fidelity(old, new), sampling_fidelity(old, new, size),
                  _sampling_limit(old, new, size))
                 for old, new, size in zip(stored, _histograms(rerun), sizes, strict=True)
                 if old is not None and new is not None]
    except (ArithmeticError, ValueError) as err:  # e.g. a count beyond a float's range
        return [], f"not reproduced: the stored counts cannot be compared ({err})"
    if not pairs:
        return [], iq_note or "no stored counts to compare"
    return pairs, iq_note


def audit(
    archive: Archive,
    verify: bool = True,
    repair: bool = False,
    reproduce: bool = False,
    threshold: float = 0.95,
    shots: int | None = None,
    device_threshold: float | None = None,
    sample: int | None = None,
    seed: int = 0,
    max_qubits: int = 20,
    progress: bool | None = None,
) -> pd.DataFrame:
    """One row a job; columns ``job_id, ok, problem`` then the reproducibility findings.

    ``ok``/``problem``: storage integrity (blob present, size and, with ``verify``, SHA-256;
    a valid blob row; with ``verify`` also: the row is this job's payload row, the doc JSON
    parses, ``job_tags`` matches the tags), and with ``reproduce`` a fidelity below
    ``threshold``. ``blob_ok``: the blob part of that. When, where and with which client
    it ran: ``creation_date`` (UTC), ``backend_name``, ``provider`` (``hub/group/project``
    from the record's hub info, NA if not recorded), ``client_version``. ``complete`` (a DONE job has a result
    and a qobj); ``provenance`` (backend and client version recorded); ``notes`` lists these
    informational findings. ``reproduce=True`` re-runs the stored qobj of DONE jobs (and of
    ERROR jobs with a partial result: the experiments that ran) on
    BasicSimulator (``shots`` overrides the qobj's, ``sample`` picks that many jobs at random
    with ``seed``, jobs wider than ``max_qubits`` are skipped) and fills ``fidelity`` (lowest
    Hellinger fidelity over the experiments) and ``flagged``: a simulator job (or one whose
    backend is not recorded) below ``threshold``, a device job below ``device_threshold``
    (default: the lower of ``threshold`` and 0.5; its noise keeps an ideal re-run from
    matching, and a note says so when it is below ``threshold``). The re-run is a new sample:
    both limits are lowered to what the shots allow for the outcomes seen
    (``sampling_fidelity``, with ``SAMPLING_SLACK``), so a 10-qubit job of 1024 shots is not
    "differing" for its sampling noise; a limit of 1.0 asks for exact reproduction.
    Before any comparison the stored result must be one run's record of this qobj, or the
    job is flagged: it names the job's qobj (``qobj_id``), its outcomes fit the memory slots,
    whole counts total the shots (ints or floats), fractions total 1 (or the shots), per-shot
    memory has one entry a shot and agrees with the counts beside it (and stands in for absent
    counts), IQ memory (meas_level 1, never comparable with the ideal re-run: a note says so)
    has its shape.
    A result whose ``job_id`` names another job of the archive is a problem too.
    DONE v1 jobs (2018-2019: OpenQASM and counts in the record's ``qasms``) are re-run from
    their QASM too (not with ``sample``). The payloads read also check the index's ``has_result``, ``has_qobj``, ``shots`` and
    ``num_experiments`` (what queries answer from); without ``sample``, every job with a
    blob is read for that.

    Blob files and blob rows no job points to (left by an interrupted write) are listed in
    ``frame.attrs["orphans"]``; ``repair=True`` deletes them under the index's write lock,
    except those that may hold needed data (a copy of a missing or damaged blob, or payloads
    of jobs whose blob is missing, unknown or damaged, or a result or qobj a job's index row
    lacks, as beside an index.db restored from an older backup: a note on the job says so):
    ``frame.attrs["kept_orphans"]`` maps each of those to the reason. Files in ``blobs/`` jobarchive did not write are listed in
    ``frame.attrs["foreign_files"]`` and never touched. With ``verify``, SQLite's check of the
    index file itself (``Index.integrity``) goes to ``frame.attrs["index_problems"]``, and
    tags whose ``tag_counts`` (query planning) disagrees with the tag table to
    ``frame.attrs["tag_count_problems"]``. ``repair=True`` first rewrites, in one transaction,
    the rows an older version wrote after the upgrade (``Index.repair_derived_rows``: NULL
    share levels, "name==None" clients, missing tag counts, big ints stored as floats, v1
    jobs without num_experiments; a plain audit names each such job) and says how many in
    ``frame.attrs["repaired_rows"]``/``["recounted_tags"]``; the frame is of the result.
    With ``reproduce=True`` it also sets the index's has_result, has_qobj, num_experiments
    and shots where the payloads it reads give others (a note says so), such as the
    num_experiments versions before 66c39d9 counted from a partial result (a note, not a
    problem, without ``repair``).
    ``frame.attrs["summary"]`` counts everything. ``progress`` (default: stderr is a
    terminal) shows bars on stderr for the index checks, the blob bytes hashed, the blob
    pointers and payload rows, the records read and the re-runs. Memory holds the frame and
    ``CHUNK_JOBS`` jobs' findings at a time (10^6 jobs: 0.77 GB at the peak), or
    ``REPRODUCE_JOBS`` when every payload is read (1.0 GB).
    """
    if not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold!r}")
    if device_threshold is None:
        device_threshold = min(float(threshold), DEVICE_THRESHOLD)
    elif not 0.0 <= float(device_threshold) <= 1.0:
        raise ValueError(f"device_threshold must be between 0 and 1, got {device_threshold!r}")
    if progress is None:
        progress = sys.stderr.isatty()
    from tqdm import tqdm
    thresholds = (float(threshold), float(device_threshold))
    # Rows an older version wrote after the upgrade are rewritten first, so that what the
    # audit then reads (and reports) is the repaired archive.
    repaired_rows, recounted_tags = archive.index.repair_derived_rows() if repair else (0, 0)
    # Files are listed before the index is read: every file committed before the snapshot
    # is known to it, so only writes in flight can show up as orphans of a plain audit.
    listed = archive.blobs.files()
    foreign = archive.blobs.foreign_files()
    parts: list[pd.DataFrame] = []
    affected: set[str] = set()  # jobs whose payloads may sit in an orphan: repair keeps those
    referenced: set[int] = set()
    fixes: list[tuple[str, int, int, dict[str, int | None]]] = []
    reproduced = 0
    with archive.index.snapshot():  # blobs and jobs as of one commit, not two
        # Only an older version's process writes rows the data migrations would rewrite.
        old_writers = verify and archive.index.older_versions_may_write()
        known = archive.index.blobs()
        index_problems, tag_rows, tag_count_problems = _index_checks(archive, progress) \
            if verify else ([], [], [])
        blobs = _check_blobs(archive, known, verify, progress)
        tag_problems, stray_tag_rows = _tag_problems(tag_rows)
        payloads = _payload_pass(archive, blobs, verify, reproduce, sample, seed, progress)
        # The longest step before any re-run (a minute for 10^6 jobs): show it. Jobs are
        # read, judged and made a part of the frame CHUNK_JOBS at a time: what is held is the
        # frame, not every job's findings (1.7 KB a job, 1.7 GB for 10^6).
        # Closed whatever happens: a reader left suspended (Ctrl-C, a traceback a notebook
        # keeps) would hold its snapshot, and later reads on this thread would see the past.
        with tqdm(total=payloads.jobs, desc="audit: records", unit="job", disable=not progress,
                  leave=False) as bar, \
                tqdm(total=payloads.to_read, desc="reproduce", unit="job",
                     disable=not (progress and reproduce), leave=False) as rerun_bar, \
                contextlib.closing(archive.index.iter_select(
                    JobFilter(descending=False), _PASS_COLUMNS, batch=CHUNK_JOBS)) as batches:
            judged = ([_job_row(row, blobs, payloads, tag_problems, verify, old_writers) for row in batch]
                      for batch in batches)
            every_payload = reproduce and payloads.chosen is None
            for rows in _groups(judged, REPRODUCE_JOBS if every_payload else CHUNK_JOBS):
                if reproduce:
                    reproduced += _reproduce(archive, rows, thresholds, shots, payloads.chosen,
                                             seed, max_qubits, rerun_bar, fixes if repair else None)
                    if sample is None:
                        reproduced += _reproduce_v1(archive, [r for r in rows if r["_v1"]],
                                                    thresholds, shots, seed, max_qubits)
                affected.update(r["job_id"] for r in rows if not r["blob_ok"])
                referenced.update(r["_blob_id"] for r in rows if r["_blob_id"] is not None)
                parts.append(_frame(rows))
                bar.update(len(rows))
    if fixes:
        # The payloads (hashed) are the source of these columns: repair re-derives them.
        archive.index.set_payload_columns(fixes)
    # Read in creation order; the frame is in job id order (SQLite's and Python's order of
    # text alike: by code point).
    frame = pd.concat(parts, ignore_index=True) if parts else _frame([])
    del parts
    if not frame["job_id"].is_monotonic_increasing:  # server ids mostly grow with the date
        frame = frame.sort_values("job_id", ignore_index=True)
    if payloads.unindexed:
        frame = pd.concat([frame, _frame([_unindexed_row(job_id, path)
                                          for job_id, path in payloads.unindexed])],
                          ignore_index=True)
    blob_problem = blobs.problem

    removed: list[str] = []
    if repair:
        removed, kept = _repair(archive, blob_problem, affected)
        orphans = sorted(kept)
    else:
        orphans = _orphans(listed, known, referenced)
        kept = _protected(archive, orphans, known, blob_problem, affected)
        kept.update(_maybe_in_flight(archive, orphans, known, kept))
    newer = _newer_payloads(archive, orphans)  # after a repair: in the files it kept
    kept.update(_kept_newer(newer, kept))
    frame = _note_newer(frame, newer)
    fid = frame["fidelity"].dropna()
    frame.attrs["orphans"] = orphans
    frame.attrs["removed_orphans"] = removed
    frame.attrs["kept_orphans"] = kept
    frame.attrs["foreign_files"] = foreign
    frame.attrs["index_problems"] = index_problems
    frame.attrs["tag_count_problems"] = tag_count_problems
    frame.attrs["repaired_rows"] = repaired_rows
    frame.attrs["recounted_tags"] = recounted_tags
    frame.attrs["summary"] = {
        "index_problems": len(index_problems),
        "jobs": len(frame), "ok": int(frame["ok"].sum()), "problems": int((~frame["ok"]).sum()),
        "blobs": len(known), "orphans": len(orphans), "kept_orphans": len(kept),
        "foreign_files": len(foreign), "stray_tag_rows": stray_tag_rows,
        "tag_count_problems": len(tag_count_problems), "repaired_rows": repaired_rows,
        "recounted_tags": recounted_tags,
        "bad_blobs": sum(1 for p in blob_problem.values() if p),
        "done": int((frame["status"] == "DONE").sum()),
        "incomplete": int((~frame["complete"]).sum()),
        "no_provenance": int((~frame["provenance"]).sum()),
        "reproduced": reproduced,
        "flagged": int(frame["flagged"].sum()),
        "threshold": float(threshold) if reproduce else None,
        "device_threshold": float(device_threshold) if reproduce else None,
        "fidelity_mean": round(float(fid.mean()), 6) if len(fid) else None,
        "fidelity_min": round(float(fid.min()), 6) if len(fid) else None,
    }
    return frame


def _bytes(size: Any) -> int:
    return size if type(size) is int and size > 0 else 0


def _fail(row: dict[str, Any], problem: str, blob: bool = True) -> None:
    row["problems"].append(problem)
    row["ok"] = False
    if blob:
        row["blob_ok"] = False
        row["_blob"] = None  # nothing more is read from it


# Index columns that are a function of the stored doc alone (queries filter on them, get()
# reads the doc): a disagreement means the row or the doc was edited outside the archive.
# Counts columns (shots, num_experiments, has_result/has_qobj) come from the blobs and are
# checked there.
_DOC_COLUMNS = ("creation_us", "name", "backend_name", "status", "api_status", "final",
                "share_level", "run_mode", "kind", "experiment_id", "client_version", "tags")
_DOC_AT = {c: i for i, c in enumerate(_DOC_COLUMNS)}
# Everything the audit reads of a job, in one pass over the index.
_PASS_COLUMNS = ("job_id", "blob_id", "blob_row", "has_result", "has_qobj", "shots",
                 "num_experiments", "doc", *_DOC_COLUMNS)
_ROW_VALUE_AT = {c: i for i, c in enumerate((
    "job_id", "creation_us", "name", "backend_name", "status", "api_status", "final",
    "share_level", "run_mode", "kind", "experiment_id", "client_version"))}


def provider_of(doc: Mapping[str, Any]) -> str | None:
    """``hub/group/project`` a job ran under, from its record: ``hub_info`` nested
    (``{"hub": {"name": ...}, ...}``) or flat (``hubName``..., 2019), or the ``provider``
    of a 2024 document (``{"hub": ..., "group": ..., "project": ...}``); None if not recorded."""
    for key in ("hub_info", "provider"):
        info = doc.get(key)
        if not isinstance(info, dict):
            continue
        names = []
        for level in ("hub", "group", "project"):
            value = info.get(level, info.get(f"{level}Name"))
            if isinstance(value, dict):
                value = value.get("name")
            names.append(value if isinstance(value, str) and value else None)
        if any(names):
            return "/".join(n or "?" for n in names)
    return None


def _read_doc(job_id: str, doc: Any, stored: Sequence[Any],
              check: bool) -> tuple[str | None, dict[str, Any] | None]:
    """A job's stored doc, or None when it is not a JSON object; with ``check`` also why it
    does not parse as a record (``record()`` would raise), or how the index columns
    (``stored``, of ``_DOC_COLUMNS``) disagree with it (a query finds what ``get()`` does not)."""
    try:
        value = loads(doc)
    except (ValueError, TypeError) as err:  # JSONDecodeError, UnicodeDecodeError
        return (f"the index's doc of this job is not valid JSON ({err})" + _EDITED_ROW
                if check else None), None
    if not isinstance(value, dict):
        return ("the index's doc of this job is not a JSON object" + _EDITED_ROW
                if check else None), None
    return (_row_disagreement(job_id, value, stored) if check else None), value


def _row_disagreement(job_id: str, doc: dict[str, Any], stored: Sequence[Any]) -> str | None:
    """How the index columns of a job differ from those its doc gives, or None."""
    try:
        if doc.get("job_id") != job_id:
            return f"the index's doc of this job names job {doc.get('job_id')!r}" + _EDITED_ROW
        values = row_from_record({**doc, "qobj": None, "result": None}, 0).values
    except Exception as err:  # a doc no writer of the archive produces
        return (f"the index's doc of this job is not a valid record ({type(err).__name__}: "
                f"{err})" + _EDITED_ROW)
    differ = []
    for column, have in zip(_DOC_COLUMNS, stored, strict=True):
        if column == "tags":
            try:
                same = loads(have) == doc.get("tags")
            except (ValueError, TypeError):
                continue  # reported by the tag check
        else:
            same = have == values[_ROW_VALUE_AT[column]]
        if not same:
            differ.append(column)
    if not differ:
        return None
    return (f"the index row disagrees with the job's stored record in {', '.join(differ)} "
            f"(edited outside jobarchive? queries and get() see different values: {_RESTORE_INDEX})")


_OLDER_WRITER = ("by an older version that had the archive open when it was upgraded? "
                 "audit(repair=True) rewrites it as this version writes it")


def _old_version_problems(doc: Any, value: dict[str, Any], num_experiments: Any) -> list[str]:
    """What the data migrations m006/m007 would rewrite in a job's row, which only an older
    version writes (``Index.repair_derived_rows`` rewrites it): the doc's other fields and
    the share level and client are checked with every column (``_row_disagreement``)."""
    found = []
    if marked_doc(doc) is not None:
        found.append("the index's doc of this job holds an int beyond 64 bits stored without "
                     "the marker jobarchive reads it exactly by: get() and record() give a "
                     f"float (written {_OLDER_WRITER})")
    if num_experiments is None and (n := v1_experiments(value)) is not None:
        found.append(f"the index's num_experiments of this v1 job is missing, not its {n} "
                     f"circuits (queries show none; written {_OLDER_WRITER})")
    return found


def _tag_problems(tag_rows: list[tuple[str, str, str | None]]) -> tuple[dict[str, str], int]:
    """Per job, how ``job_tags`` disagrees with the tags column; and the job_tags rows of
    unknown jobs."""
    missing: dict[str, list[Any]] = defaultdict(list)
    extra: dict[str, list[Any]] = defaultdict(list)
    out: dict[str, str] = {}
    stray = 0
    for kind, job_id, tag in tag_rows:
        if kind == "stray":
            stray += 1
        elif kind == "invalid":
            out[job_id] = "the index's tags of this job are not a JSON list" + _EDITED_ROW
        else:
            (missing if kind == "missing" else extra)[job_id].append(tag)
    for job_id in (missing.keys() | extra.keys()) - out.keys():  # not when tags is unreadable
        parts = [f"{what} {sorted(map(str, tags))}" for what, tags in
                 (("lacks", missing.get(job_id)), ("has extra", extra.get(job_id))) if tags]
        out[job_id] = ("the tag table disagrees with the job's tags (tag queries miss or "
                       f"wrongly find it): it {' and '.join(parts)}" + _EDITED_ROW)
    return out, stray


def _tag_count_problem(tag: str, stored: int | None, actual: int) -> str:
    """What is wrong with one tag's count (query plans rely on it to judge a tag's size)."""
    held = "no count" if stored is None else f"a count of {stored}"
    return (f"tag {tag!r} has {held} in tag_counts but {actual} jobs in the tag table (written "
            "by an older version after the upgrade? audit(repair=True) recounts it)")


def _unindexed_row(job_id: str, path: str) -> dict[str, Any]:
    """The audit row of a job whose payloads are in a blob the index uses but which has no
    row itself: a blob row commits with its jobs' rows and jobs are never deleted, so its
    row was removed outside jobarchive (hiding a run is tampering too)."""
    return {
        "job_id": job_id, "ok": False, "blob_ok": True, "status": None, "creation_date": None,
        "backend_name": None, "provider": None, "client_version": None, "has_result": False, "has_qobj": False, "complete": True,
        "provenance": False, "fidelity": math.nan, "flagged": False, "_blob": None,
        "_blob_id": None, "notes": [],
        "problems": [f"the index has no row for this job, but blob {path} holds its payloads "
                     "(its row was deleted outside jobarchive? restore index.db from a backup, "
                     "then run sync to bring it up to date)"],
    }


# Writers set a job's blob pointer in the transaction that commits its blob row: another one
# is an edit of index.db, which nothing but a copy of the file from before it undoes (the
# audit then keeps the newer blobs for the jobs that lack their payloads).
_RESTORE_INDEX = "restore index.db from a backup, then run sync to bring it up to date"
_EDITED_ROW = f" (index.db edited outside jobarchive? {_RESTORE_INDEX})"
_FROM_PAYLOADS = "audit(repair=True, reproduce=True) sets them from its payloads"


class _Blobs:
    """What the audit found of each blob the index knows."""

    def __init__(self) -> None:
        self.problem: dict[int, str | None] = {}
        self.rows: dict[int, int] = {}
        self.path: dict[int, str] = {}

    def ref_problem(self, blob_id: int | None, blob_row: int | None, has_result: int,
                    has_qobj: int) -> str:
        """What is wrong with a job's pointer to its blob row, or ""."""
        if blob_id is None:
            return ("the index says a result/qobj is stored but points to no blob" + _EDITED_ROW
                    if has_result or has_qobj else "")
        if blob_id not in self.problem:
            return f"points to blob #{blob_id}, which the index does not know" + _EDITED_ROW
        if self.problem[blob_id]:
            return str(self.problem[blob_id])
        if blob_row is None or not 0 <= blob_row < self.rows[blob_id]:
            return (f"points to row {blob_row} of a blob with {self.rows[blob_id]} rows"
                    + _EDITED_ROW)
        return ""


def _groups(lists: Iterator[list[Any]], size: int) -> Iterator[list[Any]]:
    """The items of ``lists`` in lists of at least ``size`` (the last one may be shorter)."""
    group: list[Any] = []
    for items in lists:
        group += items
        if len(group) >= size:
            yield group
            group = []
    if group:
        yield group


def _index_checks(archive: Archive, progress: bool) -> tuple[list[str], list[Any], list[str]]:
    """SQLite's check of the index file (pages no row read touches too), the tag table
    against the tags column, and ``tag_counts`` against the tag table: 9 s for 10^6 jobs,
    under a bar of these three steps."""
    from tqdm import tqdm

    with tqdm(total=3, desc="audit: index checks", unit="check", disable=not progress,
              leave=False) as bar:
        integrity = archive.index.integrity()
        bar.update()
        tag_rows = archive.index.tag_mismatches()
        bar.update()
        counts = [_tag_count_problem(*row) for row in archive.index.tag_count_mismatches()]
        bar.update()
    return integrity, tag_rows, counts


# What restores the jobs of a damaged blob, besides a backup. Sync fetches payloads again for
# a missing file; one still there it reads (a truncated one raises, one of the right size
# or another valid file reads as intact): it must be moved aside first.
_FETCHED_AGAIN = (": restore it from a backup, or run sync, which fetches the payloads of a "
                  "missing file again where the server still serves them")
_MOVE_ASIDE = (": restore it from a backup, or move it out of blobs/ and run sync, which then "
               "fetches its payloads again where the server still serves them")


def _check_blobs(archive: Archive, known: list[tuple[int, str, str, int, int]], verify: bool,
                 progress: bool) -> _Blobs:
    """Each blob present with its recorded size and (``verify``) its SHA-256."""
    from tqdm import tqdm

    out = _Blobs()
    # Sizes as recorded (a value edited to another type is reported below, not counted).
    with tqdm(total=sum(_bytes(k[3]) for k in known), desc="audit: blobs", unit="B",
              unit_scale=True, disable=not (progress and verify), leave=False) as bar:
        for blob_id, path, sha256, size, nrows in known:
            out.rows[blob_id] = nrows
            out.path[blob_id] = path
            try:
                problem = archive.blobs.verify_exists(path, size)
                if problem:
                    gone = archive.blobs.verify_exists(path) is not None
                    problem += _FETCHED_AGAIN if gone else _MOVE_ASIDE
                elif verify:
                    problem = archive.blobs.verify(path, sha256, size)
                    problem = problem and problem + _MOVE_ASIDE
                out.problem[blob_id] = problem
            except (OSError, BlobIntegrityError) as err:
                out.problem[blob_id] = f"blob {path} cannot be checked ({err})"
            bar.update(_bytes(size))
    return out


class _Payloads:
    """What the audit knows of the payload rows before it reads the jobs' records."""

    def __init__(self) -> None:
        self.jobs = 0
        self.problems: dict[str, str] = {}  # job id -> its blob row is not its payload row
        self.unindexed: list[tuple[str, str]] = []  # (job id, blob) of payloads without a job
        self.to_read = 0  # payload rows a re-run reads
        self.chosen: set[str] | None = None  # the sample to re-run; None: every job


def _payload_pass(archive: Archive, blobs: _Blobs, verify: bool, reproduce: bool,
                  sample: int | None, seed: int, progress: bool) -> _Payloads:
    """With ``verify``, each job's (blob, row) must be a payload row holding that job: the
    job ids and payload rows of each blob file are read once (two columns), not the jobs one
    by one; the payloads in those files whose job the index does not have are listed. With
    ``reproduce``, the jobs to re-run (``sample`` of them, drawn as ``random.sample`` draws
    from the eligible jobs in job id order). Bars: 10 s for 10^6 jobs."""
    from tqdm import tqdm

    out = _Payloads()
    if not (verify or reproduce):
        out.jobs = archive.index.count()
        return out
    pointers: dict[str, tuple[list[int], list[str]]] = {}
    candidates: list[str] = []  # eligible for a re-run unless their payload row is wrong
    with_blob = 0
    with tqdm(total=archive.index.count(), desc="audit: blob pointers", unit="job",
              disable=not progress, leave=False) as bar, \
            contextlib.closing(archive.index.iter_select(
                JobFilter(descending=False),
                ("job_id", "status", "blob_id", "blob_row", "has_result", "has_qobj"),
                batch=CHUNK_JOBS)) as batches:
        for batch in batches:
            out.jobs += len(batch)
            for job_id, status, blob_id, blob_row, has_result, has_qobj in batch:
                if blob_id is None or blobs.ref_problem(blob_id, blob_row, has_result, has_qobj):
                    continue
                with_blob += 1
                if verify:
                    rows, ids = pointers.setdefault(blobs.path[blob_id], ([], []))
                    rows.append(blob_row)
                    ids.append(job_id)
                if sample is not None and status in ("DONE", "ERROR") and has_result and has_qobj:
                    candidates.append(job_id)
            bar.update(len(batch))
    unindexed: dict[str, str] = {}
    for path, (rows, ids) in tqdm(pointers.items(), total=len(pointers), desc="audit: payload rows",
                                  unit="file", disable=not progress, leave=False):
        try:
            payload_rows, held = archive.blobs.payload_jobs(path)
        except BlobIntegrityError as err:
            out.problems.update(dict.fromkeys(ids, str(err)))
            continue
        want = np.fromiter(rows, np.int64, len(rows))
        at = np.minimum(np.searchsorted(payload_rows, want), max(len(payload_rows) - 1, 0))
        hit = (payload_rows[at] == want) if len(payload_rows) else np.zeros(len(want), bool)
        for job_id, row, i, is_payload in zip(ids, want.tolist(), at.tolist(), hit.tolist(),
                                              strict=True):
            if not is_payload:
                out.problems[job_id] = (f"points to row {row} of blob {path}, which is not a "
                                        "payload row (its result and qobj are not there)"
                                        + _EDITED_ROW)
            elif held[i] != job_id:
                out.problems[job_id] = (f"points to row {row} of blob {path}, which holds the "
                                        f"payloads of job {held[i]!r}" + _EDITED_ROW)
        pointing = set(ids)
        others = [job_id for job_id in dict.fromkeys(held) if job_id not in pointing]
        if others:  # payloads an update superseded, or of a job whose row is gone
            indexed = {row[0] for row in archive.index.locations(others)}
            for job_id in others:
                if job_id not in indexed:
                    unindexed.setdefault(job_id, path)
    out.unindexed = sorted(unindexed.items())
    out.to_read = with_blob - len(out.problems)
    if sample is not None:
        eligible = sorted(job_id for job_id in candidates if job_id not in out.problems)
        if sample < len(eligible):
            out.chosen = set(random.Random(seed).sample(eligible, int(sample)))
            out.to_read = len(out.chosen)
    return out


def _job_row(row: Sequence[Any], blobs: _Blobs, payloads: _Payloads,
             tag_problems: dict[str, str], verify: bool, old_writers: bool) -> dict[str, Any]:
    """The audit row of one job (``_PASS_COLUMNS``), before any re-run; ``old_writers``:
    also name what an older version writes otherwise (see ``_old_version_problems``)."""
    job_id, blob_id, blob_row, has_result, has_qobj, shots, num_experiments, doc, *stored = row
    status, backend, client_version, kind, creation_us = (
        stored[_DOC_AT[c]] for c in ("status", "backend_name", "client_version", "kind",
                                     "creation_us"))
    sizes = (shots, num_experiments)
    problem = blobs.ref_problem(blob_id, blob_row, has_result, has_qobj)
    problems = [problem] if problem else []
    if blob_id is not None and not (has_result or has_qobj):
        # A blob row is only ever written for a job with a result or a qobj, and the
        # flags never go back to 0: queries would say "no result" while get() has one.
        problems.append("points to a blob row but the index's has_result and has_qobj "
                        f"say it holds no result and no qobj (edited outside jobarchive? "
                        f"{_FROM_PAYLOADS})")
    doc_problem, value = _read_doc(job_id, doc, stored, verify)
    for found in (doc_problem, tag_problems.get(job_id)):
        if found:
            problems.append(found)
    if verify:
        problems += [f"the index's {column} of this job is {value!r}, not a count (edited "
                     "outside jobarchive? queries show it as missing)"
                     for column, value in zip(("shots", "num_experiments"), sizes, strict=True)
                     if value is not None and not (type(value) is int and value >= 0)]
    if old_writers and value is not None:
        problems += _old_version_problems(doc, value, num_experiments)
    v1 = value is not None and isinstance(value.get("qasms"), list) and bool(value["qasms"])
    notes = []
    complete = True
    if status == "DONE" and not (has_result and has_qobj):
        runtime = kind == ApiJobKind.RUNTIME.value  # runtime jobs have no qobj by design
        missing = [w for w, has in (("result", has_result), ("qobj", has_qobj))
                   if not has and not (runtime and w == "qobj")]
        if missing:
            complete = False
            notes.append(f"DONE without {' and '.join(missing)}" + (
                " in the archive's payload format (a v1 job of 2018-2019: its circuits "
                "and counts are in the record's qasms field)" if v1 else ""))
    # The doc's client_info says more than the index's client text (a part dropped for
    # want of a version, a name with a comma).
    gap = _client_gap(value.get("client_info")) if value is not None \
        else _client_gap_text(client_version)
    provenance = bool(backend) and gap is None
    if not backend:
        notes.append("backend not recorded")
    if gap:
        notes.append(gap)
    out = {
        "job_id": job_id, "ok": not problems, "problems": problems, "blob_ok": not problem,
        "status": status, "backend_name": backend,
        # A creation_us edited to another type is reported above (its doc disagrees).
        "creation_date": creation_us if type(creation_us) is int else None,
        "provider": provider_of(value) if value is not None else None,
        "client_version": client_version,
        "has_result": bool(has_result), "has_qobj": bool(has_qobj), "complete": complete,
        "provenance": provenance, "fidelity": math.nan, "flagged": False, "notes": notes,
        "_blob": (blobs.path.get(blob_id), blob_row) if blob_id is not None and not problem
        else None,
        "_blob_id": blob_id, "_sizes": sizes, "_v1": v1,
    }
    if job_id in payloads.problems:
        _fail(out, payloads.problems[job_id])
    return out


def _orphans(listed: set[str], known: list[tuple[int, str, str, int, int]],
             referenced: set[int]) -> list[str]:
    """Files no blob row names, and blob rows no job points to."""
    known_paths = {path for _, path, *_ in known}
    return sorted([p for p in listed if p not in known_paths]
                  + [path for blob_id, path, *_ in known if blob_id not in referenced])


def _protected(archive: Archive, orphans: list[str], known: list[tuple[int, str, str, int, int]],
               blob_problem: dict[int, str | None], affected: set[str]) -> dict[str, str]:
    """The orphans that may hold needed data, and why: repair keeps them.

    An orphan byte-identical to a missing or damaged blob may be its only copy (a renamed
    file). When jobs have a missing, unknown or damaged blob, an orphan is removable only if
    it can be read and holds none of their payloads.
    """
    by_sha: dict[str, list[tuple[int, str, int]]] = defaultdict(list)
    for blob_id, path, sha256, size, _ in known:
        by_sha[sha256].append((blob_id, path, size))
    kept: dict[str, str] = {}
    for rel in orphans:
        try:
            sha = archive.blobs.file_sha256(rel)
        except FileNotFoundError:
            continue  # no file: nothing in it to lose (a blob row whose file is gone)
        except (OSError, BlobIntegrityError) as err:
            kept[rel] = f"cannot be checked ({err})"
            continue
        copies = [(b, p, s) for b, p, s in by_sha.get(sha, ()) if p != rel]
        damaged = [(b, p) for b, p, _ in copies if blob_problem.get(b)]
        if damaged:
            b, p = damaged[0]
            kept[rel] = (f"same SHA-256 as blob #{b} ({blob_problem[b]}): it may be that "
                         f"blob's only copy; rename it to {p} to restore it")
            continue
        if any(archive.blobs.verify(p, sha, s) is None for _, p, s in copies):
            continue  # a byte-identical copy of an intact blob: nothing is lost with it
        if affected:
            try:
                _, ids = archive.blobs.payload_jobs(rel)
            except BlobIntegrityError as err:
                kept[rel] = (f"{len(affected)} job(s) have a missing, unknown or damaged blob "
                             f"and this file cannot be read to show it holds none of their "
                             f"payloads ({err})")
                continue
            held = affected.intersection(ids)
            if held:
                kept[rel] = (f"holds payloads of {len(held)} job(s) whose blob is missing, "
                             f"unknown or damaged (e.g. {min(held)})")
    return kept


# Versions before 104d7d5 write a batch's blob file before taking the index's write lock and
# commit its rows after (waiting up to busy_timeout for other writers): in an archive such a
# process may still write to, a new unknown file may be its batch about to commit.
OLDER_WRITER_GRACE_S = 900.0


def _maybe_in_flight(archive: Archive, orphans: list[str], known: list[tuple[int, str, str, int, int]],
                     kept: dict[str, str]) -> dict[str, str]:
    """Orphan files that may be an older version's write in flight, and why repair keeps them."""
    known_paths = {path for _, path, *_ in known}
    candidates = [p for p in orphans if p not in kept and p not in known_paths]
    if not candidates or not archive.index.older_versions_may_write():
        return {}
    out = {}
    now = time.time()
    for rel in candidates:
        try:
            age = now - archive.blobs._resolve(rel).stat().st_mtime
        except (OSError, BlobIntegrityError):
            continue  # no file: nothing in it to lose
        if age < OLDER_WRITER_GRACE_S:
            out[rel] = (f"written {max(age, 0):.0f} s ago, and an older version may still write to "
                        "this upgraded archive (it writes a batch's blob before taking the index "
                        "lock: this may be a batch about to commit); repair removes it once it is "
                        f"{OLDER_WRITER_GRACE_S / 60:.0f} minutes old")
    return out


_NEWER_NOTE = "an orphan blob holds the "


def _newer_payloads(archive: Archive, orphans: list[str]) -> dict[str, dict[str, str]]:
    """Per orphan file, the indexed jobs it holds a payload of that their index row lacks
    (job id -> "result", "qobj" or both). Such a file is the only copy of those payloads:
    index.db was restored from a backup older than its blobs, or a sync stopped between a
    batch's blob and its commit (the re-run fetches them again, if the server still serves
    them). Payloads of jobs the index has no row for are not counted: every interrupted
    batch of new jobs leaves those."""
    out: dict[str, dict[str, str]] = {}
    for rel in orphans:
        try:
            ids, qobjs, results = archive.blobs.payload_contents(rel)
        except BlobIntegrityError:
            continue  # no file (a blob row alone), or unreadable: _protected decides
        held: dict[str, tuple[bool, bool]] = {}
        for job_id, qobj, result in zip(ids, qobjs.tolist(), results.tolist(), strict=True):
            had = held.get(job_id, (False, False))
            held[job_id] = (had[0] or result, had[1] or qobj)
        lacking = {}
        for job_id, has_result, has_qobj in archive.index.select(
                JobFilter(job_ids=list(held), descending=False),
                ("job_id", "has_result", "has_qobj")):
            result, qobj = held[job_id]
            what = [w for w, adds in (("result", result and not has_result),
                                      ("qobj", qobj and not has_qobj)) if adds]
            if what:
                lacking[job_id] = " and ".join(what)
        if lacking:
            out[rel] = lacking
    return out


def _kept_newer(newer: dict[str, dict[str, str]], kept: dict[str, str]) -> dict[str, str]:
    """Why repair keeps each file of ``_newer_payloads`` not kept already."""
    return {rel: (f"holds payloads of {len(jobs)} job(s) that the index lacks (e.g. {min(jobs)}): "
                  "index.db is older than its blobs (restored from a backup?) or a sync stopped "
                  "before its commit; `jobarchive sync` fetches them again where the server still "
                  "serves them, after which repair removes this file")
            for rel, jobs in newer.items() if rel not in kept}


def _note_newer(frame: pd.DataFrame, newer: dict[str, dict[str, str]]) -> pd.DataFrame:
    """The audit frame with a note on each job whose payloads only an orphan file holds."""
    notes = {job_id: f"{_NEWER_NOTE}{what} of this job, which the index lacks: {rel} (index.db older "
                     "than its blobs, restored from a backup? or a sync stopped before its "
                     "commit): `jobarchive sync` fetches it again where the server still serves "
                     "it, and repair keeps the file until then"
             for rel, jobs in sorted(newer.items()) for job_id, what in jobs.items()}
    if not notes:
        return frame
    extra = frame["job_id"].map(notes)
    at = extra.notna().to_numpy(bool)
    frame.loc[at, "notes"] = [f"{old}; {new}" if old else new
                              for old, new in zip(frame.loc[at, "notes"], extra[at], strict=True)]
    return frame


def _repair(archive: Archive, blob_problem: dict[int, str | None],
            affected: set[str]) -> tuple[list[str], dict[str, str]]:
    """Delete the orphans that provably hold nothing needed; (removed, kept with reasons).

    Everything happens under the index's write lock: writers take it before writing their
    blob file and commit after, so under it a file or blob row no job points to is the
    leftover of a crashed writer, never a write in flight.
    """
    with archive.index.transaction():
        listed = archive.blobs.files()
        known = archive.index.blobs()
        orphans = _orphans(listed, known, archive.index.referenced_blob_ids())
        if not orphans:
            return [], {}
        affected = affected | {job_id for job_id, _ in archive.index.unknown_blob_refs()}
        problems = dict(blob_problem)
        vanished = False
        for blob_id, path, _, size, _ in known:
            now = archive.blobs.verify_exists(path, size)
            if now and not problems.get(blob_id):
                problems[blob_id] = now
                vanished = True  # its jobs are not in `affected`: protect everything
        kept = _protected(archive, orphans, known, problems, affected)
        kept.update(_maybe_in_flight(archive, orphans, known, kept))
        kept.update(_kept_newer(_newer_payloads(archive, orphans), kept))
        if vanished:
            kept.update({p: "a blob changed on disk during the audit; run it again"
                         for p in orphans if p not in kept})
        removed = [p for p in orphans if p not in kept]
        known_paths = {path: blob_id for blob_id, path, *_ in known}
        archive.index.delete_blob_rows([known_paths[p] for p in removed if p in known_paths])
        for path in removed:
            archive.blobs.remove(path)
    return removed, kept


_NAT = np.iinfo(np.int64).min  # NaT as a datetime64's integer


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    for r in rows:
        r["problem"] = "; ".join(r["problems"])
    data = {c: [r[c] for r in rows] for c in AUDIT_COLUMNS}
    data["notes"] = ["; ".join(n) for n in data["notes"]]
    frame = pd.DataFrame({
        "job_id": pd.array(data["job_id"], dtype="string"),
        "ok": pd.array(data["ok"], dtype=bool),
        "problem": pd.array(data["problem"], dtype="string"),
        "blob_ok": pd.array(data["blob_ok"], dtype=bool),
        "status": pd.array(data["status"], dtype="string"),
        # Microseconds, as query(): nanoseconds overflow before 1677 and after 2262.
        "creation_date": pd.DatetimeIndex(np.array(
            [_NAT if us is None else us for us in data["creation_date"]], dtype="int64"
        ).view("datetime64[us]")).tz_localize("UTC"),
        "backend_name": pd.array(data["backend_name"], dtype="string"),
        "provider": pd.array(data["provider"], dtype="string"),
        "client_version": pd.array(data["client_version"], dtype="string"),
        "has_result": pd.array(data["has_result"], dtype=bool),
        "has_qobj": pd.array(data["has_qobj"], dtype=bool),
        "complete": pd.array(data["complete"], dtype=bool),
        "provenance": pd.array(data["provenance"], dtype=bool),
        "fidelity": pd.array(data["fidelity"], dtype="float64"),
        "flagged": pd.array(data["flagged"], dtype=bool),
        "notes": pd.array(data["notes"], dtype="string"),
    })
    return frame


def _rerun_and_judge(r: dict[str, Any], qobj: Any, result: Any, shots: int | None, seed: int,
                     max_qubits: int, thresholds: tuple[float, float]) -> int:
    """Re-run one job's circuits and judge its stored result on the row; 1 if compared."""
    pairs, note = _rerun(qobj, result, shots, seed, max_qubits)
    if note.startswith((_DAMAGED, _DAMAGED_MEMORY)):
        r["flagged"] = True
        _fail(r, note, blob=False)
    elif note:
        r["notes"].append(note)
    if not pairs:
        return 0
    r["fidelity"] = min(f for f, *_ in pairs)
    _judge(r, pairs, *thresholds)
    return 1


def _below(fidelity: float, limit: float) -> str:
    """A fidelity below ``limit`` in digits that read below it (0.9999998 < 1.0, never
    "1.0000 < 1.0"): four decimals, more only where those would round up to the limit."""
    for digits in range(4, 17):
        text = f"{fidelity:.{digits}f}"
        if float(text) < limit:
            return text
    return repr(fidelity)


def _judge(row: dict[str, Any], pairs: list[tuple[float, float, float]], threshold: float,
           device_threshold: float) -> None:
    """Flag a reproduced job: a simulator's (or an unknown backend's) below ``threshold``, a
    device's below ``device_threshold``, each lowered to what the shots allow (the re-run is
    a new sample: with many outcomes and few shots two intact samples differ a lot); note
    a job below ``threshold`` that is not flagged, and why."""
    backend = row["backend_name"]
    simulator = not backend or is_simulator(backend)
    limit = threshold if simulator else device_threshold
    fidelity = min(f for f, *_ in pairs)
    # A limit of 1.0 asks for exact reproduction (simulator jobs with their seed): no allowance.
    bad = [(f, fl) for f, fl, lowest in pairs if f < (limit if limit >= 1.0 else min(limit, lowest))]
    if bad:
        f, _ = min(bad)
        row["flagged"] = True
        if simulator:
            _fail(row, f"reproduced counts differ: Hellinger fidelity {_below(f, limit)} < threshold "
                       f"{threshold} (the re-run of a simulator job should match)", blob=False)
        else:
            _fail(row, f"reproduced counts differ beyond device noise: Hellinger fidelity "
                       f"{_below(f, limit)} to the ideal re-run < device threshold {device_threshold} "
                       f"({backend})", blob=False)
        return
    if fidelity >= threshold:
        return
    expected = min(pairs)[1]
    if expected < threshold or simulator:
        row["notes"].append(f"sampling noise: fidelity {_below(fidelity, threshold)} is below {threshold}, but "
                            f"the re-run is a new sample: with these shots and outcomes two "
                            f"intact samples give about {expected:.4f}")
    else:
        row["notes"].append(f"device noise: fidelity {_below(fidelity, threshold)} to the ideal re-run is "
                            f"below {threshold}, as expected of a device ({backend}) whose "
                            f"noise the re-run lacks (flagged below {device_threshold})")


def _v1_payloads(record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A v1 job's ``qasms`` (OpenQASM 2 text and counts keyed in binary, registers spaced) as
    a qobj and a result, for ``_rerun``. Raises ValueError when a circuit cannot be read."""
    from qiskit import qasm2

    from .qobj import qobj_from_circuits

    shots = record.get("_api_shots")
    circuits, results = [], []
    for i, entry in enumerate(record["qasms"]):
        text = entry.get("qasm") if isinstance(entry, dict) else None
        if not isinstance(text, str):
            raise ValueError(f"v1 circuit {i} holds no QASM text")
        try:  # v1 documents leave out the version line
            circuit = qasm2.loads(text if "OPENQASM" in text else "OPENQASM 2.0;\n" + text)
        except Exception as err:
            raise ValueError(f"v1 circuit {i} does not parse as OpenQASM 2 ({err})") from None
        circuit.name = f"qasms{i}"
        circuits.append(circuit)
        result = entry.get("result")
        data = result.get("data") if isinstance(result, dict) else None
        counts = data.get("counts") if isinstance(data, dict) else None
        results.append({"shots": shots, "data": {"counts": counts}} if isinstance(counts, dict)
                       else {"shots": shots, "data": {}})
    if type(shots) is not int or shots <= 0:  # the re-run needs some: the first histogram's
        hist = next((h for h in _histograms({"results": results}) if h), None)
        shots = int(sum(hist.values())) if hist else 1024
    return qobj_from_circuits(circuits, shots=shots, qobj_id="v1"), {"results": results}


def _reproduce_v1(archive: Archive, rows: list[dict[str, Any]], thresholds: tuple[float, float],
                  shots: int | None, seed: int, max_qubits: int) -> int:
    """Re-run the circuits of DONE v1 jobs (2018-2019: QASM and counts in the record's
    ``qasms``, no qobj or result) and judge their counts as ``_reproduce`` does."""
    rows = [r for r in rows if r["status"] == "DONE" and not r["has_result"]]
    if not rows:
        return 0
    by_id = {r["job_id"]: r for r in rows}
    done = 0
    for job_id, doc in archive.select_rows(JobFilter(job_ids=list(by_id), descending=False),
                                           ("job_id", "doc")):
        r = by_id[job_id]
        try:
            qobj, result = _v1_payloads(loads(doc))
        except (ValueError, TypeError, KeyError) as err:
            r["notes"].append(f"not reproduced: {err}")
            continue
        done += _rerun_and_judge(r, qobj, result, shots, seed, max_qubits, thresholds)
    return done


def _payload_column_problems(row: dict[str, Any], qobj: Any, result: Any,
                             fixes: dict[str, int | None] | None = None) -> tuple[str, str]:
    """How the index's columns derived from a job's payloads (has_result, has_qobj,
    num_experiments, shots) differ from the payloads read, or "" (queries answer from them:
    an edited shots or has_result misleads every analysis); and a num_experiments an older
    version counted from a partial result, or "". ``fixes`` gets the values the payloads
    give for the columns that differ."""
    fixes = {} if fixes is None else fixes
    differ = []
    counted = ""
    for column, held in (("has_result", result is not None), ("has_qobj", qobj is not None)):
        if bool(row[column]) != held:
            differ.append(f"{column} is {int(row[column])} but its blob row holds "
                          f"{'a' if held else 'no'} {column[4:]}")
            fixes[column] = int(held)
    derived = dict(zip(("num_experiments", "shots"), payload_sizes({}, qobj, result), strict=True))
    for column, stored in zip(("shots", "num_experiments"), row.get("_sizes") or (), strict=False):
        want = derived[column]
        if want is None or type(stored) is not int or stored == want:
            continue
        fixes[column] = want
        if column == "num_experiments" and isinstance(result, dict) \
                and isinstance(result.get("results"), list) \
                and stored == len(result["results"]):
            # Not an edit: versions before 66c39d9 (763f3ab for a result written after the
            # qobj) counted the experiments of a partial result.
            counted = f"{_OLD_COUNT}{stored}, the experiments its partial result holds, but its qobj has {want}"
        else:
            differ.append(f"{column} is {stored} but its payloads give {want}")
    if not differ:
        return "", counted
    found = "; the index's ".join(differ)
    return (f"the index's {found} (edited outside jobarchive? queries show the index's value: "
            f"{_FROM_PAYLOADS})", counted)


_OLD_COUNT = "num_experiments is "
_OLD_COUNT_WHY = (" (as versions before 66c39d9 counted them; audit(repair=True, reproduce=True) "
                  "sets it as this version writes it)")


def _other_jobs_named(archive: Archive, rows: list[dict[str, Any]],
                      payloads: list[tuple[Any, Any]]) -> dict[str, str]:
    """Job id -> the other archived job its stored result names (``job_id``). A result of a
    local run names a job no archive holds (a uuid), one of the runtime "Unknown": those say
    nothing."""
    named = {}
    for r, (_, result) in zip(rows, payloads, strict=True):
        other = result.get("job_id") if isinstance(result, dict) else None
        if isinstance(other, str) and other and other != r["job_id"]:
            named[r["job_id"]] = other
    if not named:
        return {}
    archived = {job_id for job_id, *_ in archive.index.locations(list(set(named.values())))}
    return {job_id: other for job_id, other in named.items() if other in archived}


def _reproduce(archive: Archive, rows: list[dict[str, Any]], thresholds: tuple[float, float],
               shots: int | None, chosen: set[str] | None, seed: int, max_qubits: int,
               bar: Any, fixes: list[tuple[str, int, int, dict[str, int | None]]] | None) -> int:
    """Re-run the eligible jobs among ``rows`` (those in ``chosen``, or all) and check the
    index's payload columns of every job read; ``fixes`` (repair) gets the columns to set."""
    # ERROR jobs too: the experiments of a partial result that ran carry counts to check
    # (the failed ones have none and are left out of the comparison).
    eligible = [r for r in rows if r["status"] in ("DONE", "ERROR") and r["has_result"]
                and r["has_qobj"] and r["_blob"] is not None
                and (chosen is None or r["job_id"] in chosen)]
    if chosen is None:
        # The other jobs with a blob: read to check the index's flags and sizes only (one
        # whose has_result or has_qobj was edited to 0 is not eligible, whatever it holds).
        eligible += [r for r in rows if r["_blob"] is not None
                     and not (r["status"] in ("DONE", "ERROR") and r["has_result"]
                              and r["has_qobj"])]
    by_file: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in eligible:
        by_file[r["_blob"][0]].append(r)
    done = 0
    repairs: list[tuple[dict[str, Any], dict[str, int | None], str]] = []
    for path, group in by_file.items():
        for start in range(0, len(group), _READ_CHUNK):
            chunk = group[start:start + _READ_CHUNK]
            try:
                payloads = archive.blobs.read_payloads(path, [r["_blob"][1] for r in chunk])
            except Exception as err:  # a blob that hashes fine but does not decode
                for r in chunk:
                    _fail(r, f"blob {path} is unreadable ({type(err).__name__}: {err})")
                bar.update(len(chunk))
                continue
            archived = _other_jobs_named(archive, chunk, payloads)
            for r, (qobj, result) in zip(chunk, payloads, strict=True):
                fix: dict[str, int | None] = {}
                edited, counted = _payload_column_problems(r, qobj, result, fix)
                if fix and fixes is not None:
                    done_text = edited.split(" (edited outside")[0]
                    repairs.append((r, fix, "; ".join(filter(None, (done_text, counted)))))
                else:
                    if edited:
                        _fail(r, edited, blob=False)
                    if counted:
                        r["notes"].append(counted + _OLD_COUNT_WHY)
                if not (r["status"] in ("DONE", "ERROR") and result is not None
                        and qobj is not None):
                    bar.update(1)
                    continue
                ran = qobj.get("qobj_id") if isinstance(qobj, dict) else None
                held = result.get("qobj_id") if isinstance(result, dict) else None
                if isinstance(ran, str) and isinstance(held, str) and ran and held \
                        and ran != held:
                    # Runs of one circuit have one distribution: only this tells them apart.
                    r["flagged"] = True
                    _fail(r, f"the stored result is of qobj {_shown(repr(held))}, but the "
                             f"job ran qobj {_shown(repr(ran))} (another job's result?)",
                          blob=False)
                    bar.update(1)
                    continue
                if r["job_id"] in archived:
                    # Clients often fix the qobj_id ("bell_Qobj_07272018"): the job the result
                    # names is the other witness. The re-run still says how far its counts are.
                    _fail(r, f"the stored result is of job {_shown(repr(archived[r['job_id']]))} "
                             "(its job_id), another job of this archive (results stored under "
                             "each other's jobs?)", blob=False)
                done += _rerun_and_judge(r, qobj, result, shots, seed, max_qubits, thresholds)
                bar.update(1)
    for r, fix, what in repairs if fixes is not None else ():
        fixes.append((r["job_id"], r["_blob_id"], r["_blob"][1], fix))
        r.update({column: value for column, value in fix.items() if column in r})
        r["notes"].append("repaired from its payloads: " + what)
    return done
