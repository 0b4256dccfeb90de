"""Drive the unmodified legacy client (qiskit-ibmq-provider 0.20.2) against the emulator.

Run by tests/test_legacy_client.py with the legacy virtual environment's interpreter:
``python legacy_driver.py '<json config>'``. It never imports jobarchive; it prints one JSON
report on stdout for the test to check against the emulator's own view.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from datetime import datetime


def _ids(jobs) -> list[str]:
    return [j.job_id() for j in jobs]


def main() -> None:
    cfg = json.loads(sys.argv[1])
    warnings.simplefilter("ignore")
    import qiskit.providers.ibmq as ibmq_pkg
    from qiskit import IBMQ, QuantumCircuit
    from qiskit.providers.ibmq.exceptions import IBMQBackendApiError

    out: dict = {"provider_version": ibmq_pkg.__version__}
    provider = IBMQ.enable_account(cfg["token"], url=cfg["url"])
    out["backends"] = sorted(b.name() for b in provider.backends())
    start = datetime.fromisoformat(cfg["start"])

    out["newest"] = _ids(provider.backend.jobs(limit=10))
    out["done_sim"] = _ids(provider.backend.jobs(limit=15, status="DONE",
                                                 backend_name="ibmq_qasm_simulator"))
    out["tags_or_since"] = _ids(provider.backend.jobs(limit=None, start_datetime=start,
                                                      job_tags=cfg["tags_or"]))
    out["tags_and"] = _ids(provider.backend.jobs(limit=30, job_tags=cfg["tags_and"],
                                                 job_tags_operator="AND"))
    out["errors_asc"] = _ids(provider.backend.jobs(limit=12, status="ERROR", descending=False))
    out["backend_jobs"] = _ids(provider.get_backend("ibmq_athens").jobs(limit=5))

    job = provider.backend.retrieve_job(cfg["done_id"])
    result = job.result()
    out["retrieved"] = {
        "status": job.status().name, "name": job.name(), "tags": job.tags(),
        "counts_hex": [r["data"]["counts"] for r in result.to_dict()["results"]],
        "counts": [result.get_counts(i) for i in range(len(result.results))],
        "time_per_step": sorted(job.time_per_step() or {}),
    }
    out["new_tags"] = sorted(job.update_tags(additional_tags=["legacy-added"],
                                             removal_tags=cfg["remove_tags"]))
    out["new_name"] = job.update_name("legacy-renamed")

    try:
        provider.backend.retrieve_job("ffffffffffffffffffffffff")
        out["missing"] = "no error"
    except IBMQBackendApiError as exc:
        out["missing"] = type(exc).__name__

    # A live submission: create, upload, confirm, then wait (websocket attempt, then polling).
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    started = time.monotonic()
    live = provider.get_backend("ibmq_qasm_simulator").run(qc, shots=300, job_name="legacy-bell",
                                                           job_tags=["legacy"])
    counts = live.result(timeout=120, wait=0.5).get_counts()
    out["submitted"] = {"id": live.job_id(), "counts": counts, "status": live.status().name,
                        "seconds": round(time.monotonic() - started, 2)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
