"""Archive audits: storage integrity, and reproducibility of what the archive holds.

Integrity (always): every blob is present with its recorded size and (``verify=True``) its
SHA-256; every job points to a blob row that exists. These findings set ``ok=False`` and
``problem``. Reproducibility (always reported, informational): DONE jobs carry a result and
a qobj, the backend and client version are recorded. ``reproduce=True`` re-runs each stored
qobj on qiskit's BasicSimulator and compares the counts with the stored ones by Hellinger
fidelity; a job below ``threshold`` is flagged and counts as a problem of that audit.

Nothing is read from a blob that failed its check, and every read is guarded, so a tampered
or truncated file is reported, never raised from inside pyarrow.
"""

from __future__ import annotations

import copy
import math
import random
import sys
from collections import defaultdict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from .exceptions import BlobIntegrityError
from .status import ApiJobKind
from .store.index import JobFilter

if TYPE_CHECKING:
    from .archive import Archive

AUDIT_COLUMNS = ("job_id", "ok", "problem", "blob_ok", "status", "backend_name",
                 "client_version", "has_result", "has_qobj", "complete", "provenance",
                 "fidelity", "flagged", "notes")
_READ_CHUNK = 256


def hellinger_fidelity(p: Mapping[Any, float], q: Mapping[Any, float]) -> float:
    """Hellinger fidelity of two count histograms: (sum_i sqrt(p_i q_i))^2 after normalizing.

    The same quantity as ``qiskit.quantum_info.hellinger_fidelity``; 1.0 for identical
    distributions, 0.0 for disjoint ones.
    """
    np_, nq = sum(p.values()), sum(q.values())
    if np_ <= 0 or nq <= 0:
        return 1.0 if np_ == nq else 0.0
    overlap = sum(math.sqrt(p[k] / np_ * q[k] / nq) for k in p.keys() & q.keys())
    return min(1.0, overlap * overlap)


def _key_value(key: str) -> int | str:
    """A count key as an integer outcome: ``"0x3"`` (hex) or ``"1 1"``/``"11"`` (binary)."""
    if key.startswith("0x"):
        return int(key, 16)
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


def _stored_seed(result: Any) -> int | None:
    results = result.get("results") if isinstance(result, dict) else None
    if isinstance(results, list) and results and isinstance(results[0], dict):
        seed = results[0].get("seed_simulator")
        if isinstance(seed, int) and not isinstance(seed, bool):
            return seed
    return None


def reproduce_fidelity(qobj: Any, result: Any, *, shots: int | None = None, seed: int = 0,
                       max_qubits: int = 20) -> tuple[float | None, str]:
    """Re-run ``qobj`` on BasicSimulator; (lowest per-experiment fidelity, note).

    The fidelity is None when the job cannot be reproduced; the note says why. The stored
    result's ``seed_simulator`` is reused when present (so a simulator job matches exactly).
    """
    from .qobj import circuits_from_qobj, simulate_qobj

    stored = _histograms(result)
    if not stored or all(h is None for h in stored):
        return None, "no stored counts to compare"
    try:
        circuits = circuits_from_qobj(qobj)
        widest = max(c.num_qubits for c in circuits)
        if widest > max_qubits:
            return None, f"not reproduced: {widest} qubits > max_qubits={max_qubits}"
        if len(circuits) != len(stored):
            return None, (f"not reproduced: the qobj has {len(circuits)} experiments, "
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
        return None, f"not reproduced: {err}"
    except Exception as err:  # a simulator failure on one job must not stop the audit
        return None, f"not reproduced: {type(err).__name__}: {err}"
    fidelities = [hellinger_fidelity(old, new) for old, new in
                  zip(stored, _histograms(rerun), strict=True) if old is not None and new is not None]
    if not fidelities:
        return None, "no stored counts to compare"
    return min(fidelities), ""


def audit(
    archive: Archive,
    verify: bool = True,
    repair: bool = False,
    reproduce: bool = False,
    threshold: float = 0.95,
    shots: int | None = None,
    sample: int | None = None,
    seed: int = 0,
    max_qubits: int = 20,
    progress: bool | None = None,
) -> pd.DataFrame:
    """One row a job; columns ``job_id, ok, problem`` then the reproducibility findings.

    ``ok``/``problem``: storage integrity (blob present, size and, with ``verify``, SHA-256;
    a valid blob row), and with ``reproduce`` a fidelity below ``threshold``.
    ``blob_ok``; ``complete`` (a DONE job has a result and a qobj); ``provenance`` (backend
    and client version recorded); ``notes`` lists these informational findings.
    ``reproduce=True`` re-runs the stored qobj of DONE jobs on BasicSimulator (``shots``
    overrides the qobj's, ``sample`` picks that many jobs at random with ``seed``, jobs wider
    than ``max_qubits`` are skipped) and fills ``fidelity`` (lowest Hellinger fidelity over
    the experiments) and ``flagged``.

    Blob files no job points to (left by an interrupted write) are listed in
    ``frame.attrs["orphans"]``; ``repair=True`` deletes them. ``frame.attrs["summary"]``
    counts everything.
    """
    if not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold!r}")
    blob_problem: dict[int, str | None] = {}
    blob_rows: dict[int, int] = {}
    blob_path: dict[int, str] = {}
    known_paths: dict[str, int] = {}
    for blob_id, path, sha256, size, rows in archive.index.blobs():
        known_paths[path] = blob_id
        blob_rows[blob_id] = rows
        blob_path[blob_id] = path
        try:
            if verify:
                blob_problem[blob_id] = archive.blobs.verify(path, sha256, size)
            else:
                blob_problem[blob_id] = archive.blobs.verify_exists(path, size)
        except (OSError, BlobIntegrityError) as err:
            blob_problem[blob_id] = f"blob {path} cannot be checked ({err})"

    info = {row[0]: row[1:] for row in archive.select_rows(
        JobFilter(descending=False), ("job_id", "status", "backend_name", "client_version", "kind"))}

    rows: list[dict[str, Any]] = []
    for job_id, blob_id, blob_row, has_result, has_qobj in archive.index.job_blob_refs():
        problem = ""
        if blob_id is None:
            if has_result or has_qobj:
                problem = "the index says a result/qobj is stored but points to no blob"
        elif blob_id not in blob_problem:
            problem = f"points to blob #{blob_id}, which the index does not know"
        elif blob_problem[blob_id]:
            problem = blob_problem[blob_id]
        elif blob_row is None or not 0 <= blob_row < blob_rows[blob_id]:
            problem = f"points to row {blob_row} of a blob with {blob_rows[blob_id]} rows"
        status, backend, client_version, kind = info.get(job_id, (None, None, None, None))
        notes = []
        complete = True
        if status == "DONE" and not (has_result and has_qobj):
            missing = [w for w, has in (("result", has_result), ("qobj", has_qobj)) if not has]
            runtime = kind == ApiJobKind.RUNTIME.value and missing == ["qobj"]
            if not runtime:  # runtime jobs have no qobj by design
                complete = False
                notes.append(f"DONE without {' and '.join(missing)}")
        provenance = bool(backend) and bool(client_version)
        if not backend:
            notes.append("backend not recorded")
        if not client_version:
            notes.append("client version not recorded")
        rows.append({
            "job_id": job_id, "ok": not problem, "problem": problem, "blob_ok": not problem,
            "status": status, "backend_name": backend, "client_version": client_version,
            "has_result": bool(has_result), "has_qobj": bool(has_qobj), "complete": complete,
            "provenance": provenance, "fidelity": math.nan, "flagged": False, "notes": notes,
            "_blob": (blob_path.get(blob_id), blob_row) if blob_id is not None and not problem
            else None,
        })

    reproduced = 0
    if reproduce:
        reproduced = _reproduce(archive, rows, threshold, shots, sample, seed, max_qubits,
                                progress)

    referenced = archive.index.referenced_blob_ids()
    orphans = sorted(
        [p for p in archive.blobs.files() if p not in known_paths]
        + [p for p, b in known_paths.items() if b not in referenced]
    )
    if repair and orphans:
        for path in orphans:
            archive.blobs.remove(path)
        archive.index.delete_blob_rows([known_paths[p] for p in orphans if p in known_paths])

    frame = _frame(rows)
    fid = frame["fidelity"].dropna()
    frame.attrs["orphans"] = [] if repair else orphans
    frame.attrs["removed_orphans"] = orphans if repair else []
    frame.attrs["summary"] = {
        "jobs": len(frame), "ok": int(frame["ok"].sum()), "problems": int((~frame["ok"]).sum()),
        "blobs": len(known_paths), "orphans": 0 if repair else len(orphans),
        "bad_blobs": sum(1 for p in blob_problem.values() if p),
        "done": int((frame["status"] == "DONE").sum()),
        "incomplete": int((~frame["complete"]).sum()),
        "no_provenance": int((~frame["provenance"]).sum()),
        "reproduced": reproduced,
        "flagged": int(frame["flagged"].sum()),
        "threshold": float(threshold) if reproduce else None,
        "fidelity_mean": round(float(fid.mean()), 6) if len(fid) else None,
        "fidelity_min": round(float(fid.min()), 6) if len(fid) else None,
    }
    return frame


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    data = {c: [r[c] for r in rows] for c in AUDIT_COLUMNS}
    data["notes"] = ["; ".join(n) for n in data["notes"]]
    frame = pd.DataFrame({
        "job_id": pd.array(data["job_id"], dtype="string"),
        "ok": pd.array(data["ok"], dtype=bool),
        "problem": pd.array(data["problem"], dtype="string"),
        "blob_ok": pd.array(data["blob_ok"], dtype=bool),
        "status": pd.array(data["status"], dtype="string"),
        "backend_name": pd.array(data["backend_name"], dtype="string"),
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


def _reproduce(archive: Archive, rows: list[dict[str, Any]], threshold: float,
               shots: int | None, sample: int | None, seed: int, max_qubits: int,
               progress: bool | None) -> int:
    eligible = [r for r in rows if r["status"] == "DONE" and r["has_result"] and r["has_qobj"]
                and r["_blob"] is not None]
    if sample is not None and sample < len(eligible):
        eligible = random.Random(seed).sample(eligible, int(sample))
    by_file: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in eligible:
        by_file[r["_blob"][0]].append(r)
    if progress is None:
        progress = sys.stderr.isatty()
    from tqdm import tqdm

    done = 0
    with tqdm(total=len(eligible), desc="reproduce", unit="job", disable=not progress,
              leave=False) as bar:
        for path, group in by_file.items():
            for start in range(0, len(group), _READ_CHUNK):
                chunk = group[start:start + _READ_CHUNK]
                try:
                    payloads = archive.blobs.read_payloads(path, [r["_blob"][1] for r in chunk])
                except Exception as err:  # a blob that hashes fine but does not decode
                    for r in chunk:
                        r["ok"] = r["blob_ok"] = False
                        r["problem"] = f"blob {path} is unreadable ({type(err).__name__}: {err})"
                    bar.update(len(chunk))
                    continue
                for r, (qobj, result) in zip(chunk, payloads, strict=True):
                    fidelity, note = reproduce_fidelity(qobj, result, shots=shots, seed=seed,
                                                        max_qubits=max_qubits)
                    if note:
                        r["notes"].append(note)
                    if fidelity is not None:
                        done += 1
                        r["fidelity"] = fidelity
                        if fidelity < threshold:
                            r["flagged"] = True
                            r["ok"] = False
                            r["problem"] = (f"reproduced counts differ: Hellinger fidelity "
                                            f"{fidelity:.4f} < threshold {threshold}")
                    bar.update(1)
    return done
