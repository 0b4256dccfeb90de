"""refresh() of a job whose server answers under another id keeps the job's own id, as
qiskit-ibmq-provider's refresh does (it pops the answer's id). The 2024 server did answer
so: asked about job 65d77683c5af71267b2cc634 (the id its creation returned), it sent the
document of cnbnd1mj1613i2jfch3g (realdata ibmqclient_jl_records/submit_2024.json). The job
used to take the answer's id, so an archived job refreshed by a sync was stored a second time
under the new id and the first copy stayed non-final for good."""

from __future__ import annotations

import json

from jobarchive import IBMQJob, JobStatus


def _recorded_answers(realdata):
    """The 2024 creation answer (job A) and the answer about job A that names job B."""
    record = json.loads((realdata / "ibmqclient_jl_records/submit_2024.json").read_text())
    created, uploaded = None, None
    for response in record["responses"]:
        target = response["request"]["target"]
        if target.endswith("/Jobs"):
            created = json.loads(response["body"])
        elif target.endswith("/jobDataUploaded"):
            uploaded = json.loads(response["body"])["job"]
    return created, uploaded


class _RecordedServer:
    """Answers about job A with what the 2024 server sent about it (replayed, as a cassette)."""

    def __init__(self, answer: dict):
        self.answer = answer
        self.asked: list[str] = []

    def job_get(self, job_id: str) -> dict:
        self.asked.append(job_id)
        return json.loads(json.dumps(self.answer))

    def job_status(self, job_id: str) -> dict:
        self.asked.append(job_id)
        return {"status": self.answer["status"]}


def test_refresh_keeps_the_id_the_job_was_asked_about(realdata, arc):
    created, uploaded = _recorded_answers(realdata)
    a, b = created["id"], uploaded["id"]
    assert (a, b) == ("65d77683c5af71267b2cc634", "cnbnd1mj1613i2jfch3g")
    server = _RecordedServer(uploaded)
    arc.add(IBMQJob.from_server(created))

    job = IBMQJob.from_dict(arc.get(a).to_dict(), api_client=server)
    job.refresh()
    assert job.job_id() == a and job.to_dict()["job_id"] == a
    assert job.to_dict()["status"] == uploaded["status"]  # the rest is the server's answer
    job.refresh()
    assert server.asked == [a, a], "it goes on asking about its own id"
    arc.add(job)
    assert len(arc) == 1 and a in arc and b not in arc


def test_refresh_from_a_listed_document_keeps_the_id_too(realdata):
    created, uploaded = _recorded_answers(realdata)
    job = IBMQJob.from_server(created)
    job.refresh_from(uploaded)
    assert job.job_id() == created["id"]
    assert job.status() is JobStatus.INITIALIZING
