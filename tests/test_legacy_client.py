"""The unmodified legacy client (qiskit-ibmq-provider 0.20.2) against the emulator.

The client lives in its own virtual environment (it needs numpy<1.24 and an old qiskit-terra);
create it with::

    python3.11 -m venv .venv-legacy
    .venv-legacy/bin/pip install 'qiskit-ibmq-provider==0.20.2' 'numpy<1.24' 'requests<2.33'

(requests 2.33+ passes ``params=None`` from ``Session.get``, which 0.20.2's bare downloads
of results cannot handle.) Point ``JOBARCHIVE_LEGACY_PYTHON`` at another interpreter if
needed. Without the environment the test is skipped, unless ``JOBARCHIVE_REQUIRE_LEGACY=1``
(CI), then it fails.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from jobarchive.emulator import Emulator

ROOT = Path(__file__).resolve().parents[1]
DRIVER = Path(__file__).with_name("legacy_driver.py")
HOWTO = ("python3.11 -m venv .venv-legacy && .venv-legacy/bin/pip install "
         "'qiskit-ibmq-provider==0.20.2' 'numpy<1.24' 'requests<2.33'")


def _legacy_python() -> str:
    path = os.environ.get("JOBARCHIVE_LEGACY_PYTHON") or str(ROOT / ".venv-legacy/bin/python")
    if not Path(path).exists():
        message = (f"legacy client environment not found at {path}; create it with `{HOWTO}` "
                   "or set JOBARCHIVE_LEGACY_PYTHON")
        if os.environ.get("JOBARCHIVE_REQUIRE_LEGACY") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


def _ms(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _newest_first(docs: list[dict]) -> list[str]:
    return [d["id"] for d in sorted(docs, key=lambda d: (_ms(d["creationDate"]), d["id"]),
                                    reverse=True)]


@pytest.fixture(scope="module")
def run():
    python = _legacy_python()
    with Emulator(seed_jobs=600, seed=17, time_scale=600.0) as emu:
        docs = emu.job_docs()
        start = sorted(d["creationDate"] for d in docs)[len(docs) * 2 // 3]
        done = next(d for d in reversed(docs) if d["status"] == "COMPLETED" and d.get("tags"))
        before = {"done": emu.job_doc(done["id"]), "result": emu.result_of(done["id"])}
        cfg = {"url": emu.url, "token": emu.token,
               "start": datetime.fromisoformat(start.replace("Z", "+00:00")).isoformat(),
               "tags_or": ["exp1", "vqe"], "tags_and": ["exp1", "exp2"],
               "done_id": done["id"], "remove_tags": done["tags"][:1]}
        try:
            # The timeout is the guard against a hang (e.g. endless websocket retries).
            proc = subprocess.run([python, str(DRIVER), json.dumps(cfg)], capture_output=True,
                                  text=True, timeout=240)
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"the legacy client hung: {exc}")
        assert proc.returncode == 0, proc.stderr[-4000:]
        report = json.loads(proc.stdout.strip().splitlines()[-1])
        yield {"emu": emu, "docs": docs, "cfg": cfg, "report": report, "before": before,
               "after": emu.job_doc(done["id"]), "stats": emu.stats(),
               "submitted_doc": emu.job_doc(report["submitted"]["id"]),
               "submitted_result": emu.result_of(report["submitted"]["id"])}


def test_legacy_client_logs_in_and_sees_the_backends(run):
    assert run["report"]["provider_version"] == "0.20.2"
    assert run["report"]["backends"] == ["ibmq_athens", "ibmq_belem", "ibmq_lima",
                                         "ibmq_qasm_simulator"]


def test_legacy_client_lists_jobs_with_filters(run):
    docs, rep, cfg = run["docs"], run["report"], run["cfg"]
    assert rep["newest"] == _newest_first(docs)[:10]
    assert rep["done_sim"] == _newest_first(
        [d for d in docs if d["status"] == "COMPLETED"
         and d["backend"]["name"] == "ibmq_qasm_simulator"])[:15]
    start = _ms(cfg["start"].replace("+00:00", "Z"))
    want = _newest_first([d for d in docs if _ms(d["creationDate"]) >= start
                          and set(d.get("tags") or []) & set(cfg["tags_or"])])
    assert rep["tags_or_since"] == want and len(want) > 20  # more than one page of 20
    assert rep["tags_and"] == _newest_first(
        [d for d in docs if set(cfg["tags_and"]) <= set(d.get("tags") or [])])[:30]
    assert rep["errors_asc"] == _newest_first(
        [d for d in docs if d["status"].startswith("ERROR")])[::-1][:12]
    assert rep["backend_jobs"] == _newest_first(
        [d for d in docs if d["backend"]["name"] == "ibmq_athens"])[:5]


def test_legacy_client_retrieves_a_job_and_reads_its_result(run):
    got, before = run["report"]["retrieved"], run["before"]
    assert got["status"] == "DONE"
    assert got["name"] == before["done"].get("name")
    assert sorted(got["tags"]) == sorted(before["done"]["tags"])
    assert got["counts_hex"] == [r["data"]["counts"] for r in before["result"]["results"]]
    for counts, r in zip(got["counts"], before["result"]["results"], strict=True):
        assert sum(counts.values()) == r["shots"]
    assert got["time_per_step"] == sorted(before["done"]["timePerStep"])
    assert run["report"]["missing"] == "IBMQBackendApiError"


def test_legacy_client_updates_tags_and_name(run):
    rep, before, after = run["report"], run["before"]["done"], run["after"]
    want = sorted((set(before["tags"]) | {"legacy-added"}) - set(run["cfg"]["remove_tags"]))
    assert rep["new_tags"] == want == sorted(after["tags"])
    assert rep["new_name"] == "legacy-renamed" == after["name"]


def test_legacy_client_submits_and_waits_without_hanging(run):
    sub, doc = run["report"]["submitted"], run["submitted_doc"]
    assert sub["status"] == "DONE" and doc["status"] == "COMPLETED"
    assert set(sub["counts"]) <= {"00", "11"} and sum(sub["counts"].values()) == 300
    assert doc["name"] == "legacy-bell" and doc["tags"] == ["legacy"]
    assert doc["clientInfo"]["name"].startswith("qiskit")
    hex_counts = run["submitted_result"]["results"][0]["data"]["counts"]
    assert {format(int(k, 16), "02b"): v for k, v in hex_counts.items()} == sub["counts"]
    # The client followed the job over its websocket status stream (reference §3.5).
    assert run["stats"].get("websocket", 0) >= 1
