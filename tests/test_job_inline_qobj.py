"""The qobj of an inline job (kind "q-object", the 2019 server's jobs: qObject and
qObjectResult inside the job document) comes with its document, as its result already
does (reference 3.2 and 4.5; upstream read it from GET J/v/1 as well). qobj() used to ask
jobDownloadUrl, the object-storage route such a job has no object for, whenever the job was
held without its qObject (a list view, a record archived without payloads).

The emulator serves external-storage jobs only, so the server here replays the real 2019
answer to GET J/v/1 (realdata xacc_test_files/jobs_info.json) and has no other route."""

from __future__ import annotations

import json

from qiskit import QuantumCircuit

from jobarchive import IBMQJob


class _Recorded2019Server:
    """Answers GET J/v/1 with the recorded document, and knows no other request."""

    def __init__(self, doc: dict):
        self.doc = doc
        self.asked: list[str] = []

    def job_get(self, job_id: str) -> dict:
        self.asked.append(f"job_get {job_id}")
        return json.loads(json.dumps(self.doc))


def test_the_qobj_of_an_inline_job_comes_with_its_document(realdata):
    recorded = json.loads((realdata / "xacc_test_files/jobs_info.json").read_text())
    doc = recorded[0] if isinstance(recorded, list) else recorded
    assert doc["kind"] == "q-object" and doc["qObject"]
    listed = {k: v for k, v in doc.items() if k not in ("qObject", "qObjectResult")}
    server = _Recorded2019Server(doc)
    job = IBMQJob.from_server(listed, api_client=server)

    assert job.qobj() == doc["qObject"]
    assert server.asked == [f"job_get {doc['id']}"]
    (circuit,) = job.circuits()
    assert isinstance(circuit, QuantumCircuit) and circuit.num_qubits == 4
    assert job.to_dict()["qobj"] == doc["qObject"]
    assert server.asked == [f"job_get {doc['id']}"], "read once, then held"
