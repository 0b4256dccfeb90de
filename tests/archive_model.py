"""The plain in-memory model of what ``Archive.add`` keeps (shared by the model-based tests)."""

from __future__ import annotations

from jobarchive import IBMQJob
from jobarchive.status import API_FINAL_STATUSES


def apply_add(model: dict[str, dict], rec: dict) -> None:
    """Update ``model`` (job_id -> to_dict()) as ``arc.add(rec)`` must update the archive."""
    new = IBMQJob.from_dict(rec).to_dict()
    old = model.get(rec["job_id"])
    if old is not None and old["status"] in API_FINAL_STATUSES \
            and new["status"] not in API_FINAL_STATUSES:
        return  # a non-final snapshot never overwrites a final job
    if old is not None:
        for key in ("qobj", "result"):  # an update without payloads keeps the stored ones
            if new[key] is None and (new["qobj"] is not None or new["result"] is not None
                                     or old[key] is not None):
                new[key] = old[key]
    model[rec["job_id"]] = new
