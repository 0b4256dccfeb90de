"""An undo and another process's retag at the same time: undo leaves alone the jobs whose
tags changed since the run it reverts, so it must read the log and the tags under the
archive's write lock, not before taking it (the other retag then fails as busy, or runs
wholly before)."""

from __future__ import annotations

import json
import subprocess
import sys

from jobarchive import Archive
from jobarchive.retag import undo

OTHER = """
import json, sys
from jobarchive import Archive
from jobarchive.exceptions import ArchiveLockedError
with Archive(sys.argv[1]) as arc:
    try:
        arc.retag(json.loads(sys.argv[2]), additional_tags=["y"], removal_tags=["e"],
                  progress=False)
    except ArchiveLockedError:
        sys.exit(75)
"""


def test_undo_reads_what_it_reverts_under_the_write_lock(tmp_path):
    path = tmp_path / "a"
    ids = [f"job{i}" for i in range(5)]
    with Archive(path) as arc:
        arc.add_many([{"job_id": j, "creation_date": "2021-05-04T11:35:02Z",
                       "status": "COMPLETED", "tags": ["e"]} for j in ids])
        arc.retag(ids, additional_tags=["x"], progress=False)
        other: list[subprocess.CompletedProcess] = []
        read = arc.records_without_payloads

        def read_while_another_retags(*args, **kwargs):
            # Another process retags the same jobs just after undo read what it will revert.
            records = read(*args, **kwargs)
            if not other:
                other.append(subprocess.run([sys.executable, "-c", OTHER, str(path),
                                             json.dumps(ids)], capture_output=True, text=True))
            return records

        arc.records_without_payloads = read_while_another_retags
        undo(arc, progress=False)
        arc.records_without_payloads = read
        assert other[0].returncode in (0, 75), other[0].stderr
        tags = {j: sorted(arc.get(j).tags()) for j in ids}
        if other[0].returncode == 75:  # busy: the undo reverted the run alone
            assert tags == {j: ["e"] for j in ids}
        else:  # it ran first: its jobs changed since, which undo leaves alone
            assert tags == {j: ["x", "y"] for j in ids}
        assert arc.index.tag_count_mismatches() == []
