"""A write that the disk refuses: a clear ArchiveWriteError, nothing half-written, no
partial files left, and adding again afterwards completes the archive.

The child process lowers its own file-size limit (RLIMIT_FSIZE): writes past it fail with
EFBIG like writes to a full disk fail with ENOSPC, from the same system calls. Python
ignores SIGXFSZ, so the process lives on to report.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE semantics")

BENCH = Path(__file__).parent.parent / "bench"

CHILD = textwrap.dedent("""
    import json, os, random, resource, sys
    sys.path.insert(0, sys.argv[1])
    from _synth import records
    from jobarchive import Archive, ArchiveError, ArchiveWriteError
    path, limit, payload, batch = sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
    recs = records(3000, seed=5, with_results=payload != "none", id_prefix="f-")
    if payload == "big":  # ten 400 kB qobjs that zstd cannot shrink much: the blob outgrows the WAL
        noise = random.Random(5)
        for rec in recs[50:60]:
            rec["qobj"] = {"qobj_id": rec["job_id"], "header": {"noise": noise.randbytes(300_000).hex()}}
    arc = Archive(path)
    arc.add_many(recs[:50])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    out = {}
    try:
        arc.add_many(recs[50:], batch_size=batch)
        out["error"] = None
    except Exception as err:
        out["error"] = [type(err).__name__, isinstance(err, ArchiveError), isinstance(err, OSError), str(err)]
    out["after_error"] = len(arc)
    out["files_after_error"] = sorted(os.listdir(os.path.join(path, "blobs")))
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    arc.add_many(recs[50:])  # the same connection: no transaction left open by the failure
    out["after_retry"] = len(arc)
    out["ids_ok"] = sorted(arc.query(limit=None)["job_id"]) == sorted(r["job_id"] for r in recs)
    audit = arc.audit()
    out["audit_ok"] = bool(audit["ok"].all())
    out["orphans"] = len(audit.attrs.get("orphans", []))
    print(json.dumps(out))
""")


def _run(tmp_path: Path, limit: int, payload: str, batch: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(BENCH), str(tmp_path / "arc"), str(limit),
                           payload, str(batch)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def test_a_refused_blob_write_leaves_no_partial_file(tmp_path):
    # The first batch's blob (several MB) passes the limit; its index rows (a few kB, written
    # while the blob is) stay under it.
    out = _run(tmp_path, 1_000_000, payload="big", batch=10)
    name, is_archive_error, is_os_error, text = out["error"]
    assert (name, is_archive_error, is_os_error) == ("ArchiveWriteError", True, True)
    assert "result blob" in text and "Free disk space" in text
    assert out["after_error"] == 50  # the batch was not committed
    assert not [f for f in out["files_after_error"] if f.startswith(".tmp-")]
    assert len(out["files_after_error"]) == 1  # the first add's blob only
    assert out["after_retry"] == 3000 and out["ids_ok"] and out["audit_ok"]


def test_a_batch_whose_blob_and_rows_both_pass_the_limit_leaves_nothing(tmp_path):
    # 2,000 results: the blob (several hundred kB) and the rows written meanwhile both pass
    # 150 kB. Whichever fails first is reported; the other's file must not stay behind.
    out = _run(tmp_path, 150_000, payload="results", batch=50_000)
    name, is_archive_error, is_os_error, text = out["error"]
    assert (name, is_archive_error, is_os_error) == ("ArchiveWriteError", True, True)
    assert "Free disk space" in text and ("result blob" in text or "index.db" in text)
    assert out["after_error"] == 50
    assert not [f for f in out["files_after_error"] if f.startswith(".tmp-")]
    assert len(out["files_after_error"]) == 1  # the first add's blob only
    assert out["after_retry"] == 3000 and out["ids_ok"] and out["audit_ok"] and out["orphans"] == 0


def test_a_refused_index_write_rolls_back_and_says_what_stays(tmp_path):
    # No results: only the index grows; its WAL passes the limit after a few batches.
    out = _run(tmp_path, 1_000_000, payload="none", batch=100)
    name, is_archive_error, is_os_error, text = out["error"]
    assert (name, is_archive_error, is_os_error) == ("ArchiveWriteError", True, True)
    assert "index.db" in text and "rolled the transaction back" in text
    kept = re.search(r"The ([\d,]+) jobs before that batch stay archived", text)
    assert kept, text
    assert out["after_error"] == 50 + int(kept.group(1).replace(",", ""))  # what it says holds
    assert out["after_retry"] == 3000 and out["ids_ok"] and out["audit_ok"]
