"""Archive audits: integrity of every blob and reference (and, later, reproducibility)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from .archive import Archive


def audit(archive: Archive, verify: bool = True, repair: bool = False) -> pd.DataFrame:
    """One row a job: ``job_id``, ``ok``, ``problem`` (empty when ok).

    ``verify`` re-hashes every blob against the SHA-256 recorded when it was written
    (otherwise only existence and size are checked). Blob files no job points to (what an
    interrupted write leaves) are listed in ``frame.attrs["orphans"]``; ``repair=True``
    deletes them. ``frame.attrs["summary"]`` counts jobs, problems, blobs and orphans.
    """
    blob_problem: dict[int, str | None] = {}
    blob_rows: dict[int, int] = {}
    known_paths: dict[str, int] = {}
    for blob_id, path, sha256, size, rows in archive.index.blobs():
        known_paths[path] = blob_id
        blob_rows[blob_id] = rows
        if verify:
            blob_problem[blob_id] = archive.blobs.verify(path, sha256, size)
        else:
            blob_problem[blob_id] = archive.blobs.verify_exists(path, size)

    job_ids, oks, problems = [], [], []
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
        job_ids.append(job_id)
        oks.append(not problem)
        problems.append(problem)

    referenced = archive.index.referenced_blob_ids()
    orphans = sorted(
        [p for p in archive.blobs.files() if p not in known_paths]
        + [p for p, b in known_paths.items() if b not in referenced]
    )
    if repair and orphans:
        for path in orphans:
            archive.blobs.remove(path)
        archive.index.delete_blob_rows([known_paths[p] for p in orphans if p in known_paths])

    frame = pd.DataFrame({"job_id": pd.array(job_ids, dtype="string"),
                          "ok": pd.array(oks, dtype=bool),
                          "problem": pd.array(problems, dtype="string")})
    frame.attrs["orphans"] = [] if repair else orphans
    frame.attrs["removed_orphans"] = orphans if repair else []
    frame.attrs["summary"] = {
        "jobs": len(frame), "ok": int(frame["ok"].sum()), "problems": int((~frame["ok"]).sum()),
        "blobs": len(known_paths), "orphans": 0 if repair else len(orphans),
    }
    return frame
