"""IBMQJob next to the unmodified upstream one (qiskit-ibmq-provider 0.20.2) on the same data.

Every final job of the recorded server data and of an emulator history is read by both:
upstream's IBMQJob built from upstream's own mapping of the raw document, with a client that
serves that document and result only (tests/legacy_job_driver.py, run in the legacy
environment), and jobarchive's, archived and rebuilt offline. Status, client version,
scheduling mode, error message, local dates, counts and partial counts, name and tags must
agree, and so must the exception raised where one is. Skipped without the legacy environment
(see tests/test_legacy_client.py for how to create it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobarchive import IBMQJob
from jobarchive.emulator import Emulator
from jobarchive.status import API_FINAL_STATUSES

sys.path.insert(0, str(Path(__file__).parent))
from legacy_job_driver import read  # noqa: E402 - the same questions, asked of both

ROOT = Path(__file__).resolve().parents[1]
# Where 0.20.2 says on purpose what 0.11.1 (jobarchive's reference) did not.
HINT_0_20 = ". Use the error_message() method to get more details"
HINT_0_11 = ". Use job.error_message() to get more details"


def _legacy_python() -> str:
    path = os.environ.get("JOBARCHIVE_LEGACY_PYTHON") or str(ROOT / ".venv-legacy/bin/python")
    if not Path(path).exists():
        pytest.skip(f"legacy client environment not found at {path} (see test_legacy_client.py)")
    return path


def _items(real_corpus: list[dict]) -> list[dict]:
    items = []
    for entry in real_corpus:
        doc = entry["document"]
        # Placeholder dates (refused), runtime jobs (upstream's constructor refuses the kind),
        # pre-Qobj jobs without a kind and jobs still moving (upstream asks the server for
        # what an archived job answers from its record).
        if str(doc.get("creationDate")).startswith("dummy") \
                or doc.get("kind") in (None, "runtime") or doc["status"] not in API_FINAL_STATUSES:
            continue
        items.append({"doc": doc, "result": None})
    with Emulator(seed_jobs=120, seed=23) as emu:
        items += [{"doc": doc, "result": emu.result_of(doc["id"])} for doc in emu.job_docs()]
    return items


def _ours(item: dict, arc) -> dict:
    job = IBMQJob.from_server(item["doc"])
    record = job.to_dict()
    if item["result"] is not None:  # as the sync archives it
        record["result"] = item["result"]
    arc.add(record)
    return read(arc.get(job.job_id()))


def test_final_jobs_read_as_upstream_reads_them(real_corpus, arc, local_tz, tmp_path):
    python = _legacy_python()
    items = _items(real_corpus)
    assert {i["doc"]["status"] for i in items} >= {"COMPLETED", "CANCELLED", "ERROR_RUNNING_JOB",
                                                   "ERROR_VALIDATING_JOB"}
    path = tmp_path / "items.json"
    path.write_text(json.dumps(items))
    run = subprocess.run([python, str(ROOT / "tests/legacy_job_driver.py"), str(path)],
                         capture_output=True, text=True, timeout=300,
                         env=dict(os.environ))  # with local_tz's TZ: both read local time
    assert run.returncode == 0, run.stderr[-3000:]
    upstream = json.loads(run.stdout)
    assert len(upstream) == len(items)
    # Upstream cannot build one: the 2019 inline job whose result it reads before it has
    # a client version (reference §1.3's quirk).
    assert sum(theirs is None for theirs in upstream) <= 1
    compared = 0
    for item, theirs in zip(items, upstream, strict=True):
        if theirs is None:
            continue
        compared += 1
        ours = _ours(item, arc)
        for key, value in theirs.items():
            if key in ("result", "partial") and item["doc"]["status"] == "COMPLETED" \
                    and item["result"] is None and "qObjectResult" not in item["doc"]:
                continue  # a listed job without its result: upstream downloads it
            if isinstance(value, list) and len(value) == 2 and isinstance(value[1], str) \
                    and value[0].startswith("IBMQ"):
                value = [value[0], value[1].replace(HINT_0_20, HINT_0_11)]
            assert ours[key] == value, (item["doc"]["id"], item["doc"]["status"], key)
    assert compared >= len(items) - 1 > 100
