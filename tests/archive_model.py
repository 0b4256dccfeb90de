"""The plain in-memory model of an archive, shared by the model-based (stateful) tests."""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from jobarchive import Archive, IBMQJob
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


class ArchiveMachine(RuleBasedStateMachine):
    """An archive in a temp directory and its model; after every step they must be equal."""

    def open_archive(self) -> None:
        self.dir = Path(tempfile.mkdtemp())
        self.arc = Archive(self.dir / "m")
        self.model: dict[str, dict] = {}

    def _apply(self, rec: dict) -> None:
        apply_add(self.model, rec)

    @rule()
    def reopen(self):
        self.arc.close()
        self.arc = Archive(self.dir / "m")

    def check_query_by_tags(self, tags: list[str], op: str) -> None:
        """``query(job_tags=..., job_tags_operator=op)`` returns the model's jobs that match, newest first."""
        got = list(self.arc.query(job_tags=tags, job_tags_operator=op)["job_id"])
        match = all if op == "AND" else any
        # An empty tag list is no tag filter, as in IBMQBackend.jobs().
        want = sorted((r for r in self.model.values() if not tags or match(t in r["tags"] for t in tags)),
                      key=lambda r: (r["creation_date"], r["job_id"]), reverse=True)
        assert got == [r["job_id"] for r in want]

    @invariant()
    def equals_model(self):
        if not hasattr(self, "arc"):
            return
        assert len(self.arc) == len(self.model)
        for job_id, rec in self.model.items():
            assert self.arc.get(job_id).to_dict() == rec, job_id
        # The planner's tag statistics follow every add, update and retag exactly.
        per_tag = Counter(t for rec in self.model.values() for t in set(rec["tags"]))
        assert self.arc.index.tag_counts() == dict(per_tag)

    def teardown(self):
        if hasattr(self, "arc"):
            self.arc.close()
            shutil.rmtree(self.dir, ignore_errors=True)
