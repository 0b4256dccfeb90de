"""Concurrency soak: reader processes query while a writer updates, for a fixed time.

No reader may error (``database is locked`` included) or see a job that fails the round
trip. ``JOBARCHIVE_SOAK_SECONDS`` sets the duration (default 6 s; CI-sized).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from jobarchive import Archive

CHILD = Path(__file__).with_name("soak_child.py")
SECONDS = float(os.environ.get("JOBARCHIVE_SOAK_SECONDS", "6"))


def test_readers_never_fail_while_a_writer_writes(tmp_path):
    path = tmp_path / "soak"
    Archive(path).close()
    procs = [subprocess.Popen([sys.executable, str(CHILD), role, str(path), str(SECONDS), str(i)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i, role in enumerate(["writer", "reader", "reader", "reader"])]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=SECONDS + 120)
        assert proc.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert all(r["ops"] > 0 for r in results), results
    with Archive(path) as arc:
        assert arc.audit()["ok"].all()
