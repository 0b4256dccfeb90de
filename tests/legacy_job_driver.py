"""Read jobs with the unmodified upstream IBMQJob (qiskit-ibmq-provider 0.20.2).

Run by tests/test_job_upstream.py with the legacy environment's interpreter:
``python legacy_job_driver.py <items.json>``, where each item is ``{"doc": <raw server job
document>, "result": <its result dict or null>}``. Each job is built from upstream's own
mapping of the document and an API client that serves that document and result and nothing
else (a network error otherwise). Never imports jobarchive; prints one JSON list on stdout.
"""

from __future__ import annotations

import copy
import json
import logging
import sys
import warnings


def read(job) -> dict:
    """What a researcher reads from a final job, exceptions as [class name, message]."""
    out: dict = {}

    def run(name, call):
        try:
            out[name] = call()
        except Exception as exc:  # noqa: BLE001 - the exception is the answer
            out[name] = [type(exc).__name__, exc.message if hasattr(exc, "message") else str(exc)]

    def counts(partial):
        result = job.result(partial=partial)
        return [result.get_counts(i) if result.results[i].success else None
                for i in range(len(result.results))]

    run("status", lambda: job.status().name)
    run("client_version", lambda: job.client_version)
    run("scheduling_mode", lambda: job.scheduling_mode())
    run("queue_position", lambda: job.queue_position())
    run("error_message", lambda: job.error_message())
    run("creation_date", lambda: job.creation_date().isoformat())
    run("time_per_step", lambda: {k: v.isoformat() for k, v in (job.time_per_step() or {}).items()})
    run("result", lambda: counts(False))
    run("partial", lambda: counts(True))
    run("name", lambda: job.name())
    run("tags", lambda: job.tags())
    return out


def main() -> None:
    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    from qiskit.providers.ibmq.api.exceptions import ApiError
    from qiskit.providers.ibmq.api.rest.utils.data_mapper import map_job_response
    from qiskit.providers.ibmq.job import IBMQJob

    class Server:
        def __init__(self, doc, result):
            self.doc, self.result = doc, result

        def job_get(self, job_id):
            return map_job_response(copy.deepcopy(self.doc))

        def job_result(self, job_id, use_object_storage):
            if self.result is None:
                raise ApiError("no result")
            return copy.deepcopy(self.result)

        def __getattr__(self, name):
            def refuse(*args, **kwargs):
                raise ApiError(f"no {name}")
            return refuse

    class Backend:
        def name(self):
            return "backend"

    out = []
    for item in json.loads(open(sys.argv[1]).read()):
        try:
            job = IBMQJob(Backend(), Server(item["doc"], item.get("result")),
                          **map_job_response(copy.deepcopy(item["doc"])))
        except Exception:  # noqa: BLE001 - e.g. an inline result without clientInfo (a quirk)
            out.append(None)
            continue
        out.append(read(job))
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
