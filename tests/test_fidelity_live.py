"""What a live job folds into its record stays exact JSON, so ``Archive.add(job)`` (which
trusts the job's record) can never store a distorted payload. Real emulator over sockets.

A server answer may hold ``NaN``/``Infinity`` literals: Python's ``json`` (and so the API
client) reads them as floats, but JSON cannot carry them and the blob writer would store
them as ``null``."""

from __future__ import annotations

import pytest

import jobarchive
from jobarchive import IBMQJob, IBMQJobApiError
from jobarchive.api import ApiClient

emulator = pytest.importorskip("jobarchive.emulator")


@pytest.fixture(scope="module")
def emu():
    with emulator.Emulator(seed_jobs=30, seed=5, time_scale=200.0) as server:
        yield server


class NanServer(ApiClient):
    """The emulator's answers with a ``NaN`` where a server wrote the literal ``NaN``."""

    def job_result(self, job_id, acknowledge=True):
        result = super().job_result(job_id, acknowledge)
        result["results"][0].setdefault("metadata", {})["fidelity"] = float("nan")
        return result

    def job_qobj(self, job_id):
        qobj = super().job_qobj(job_id)
        qobj["config"]["rep_delay"] = float("inf")
        return qobj


def _completed_external(emu) -> dict:
    for doc in emu.job_docs():
        if doc["status"] == "COMPLETED" and doc.get("kind") == "q-object-external-storage" \
                and emu.result_of(doc["id"]) and emu.qobj_of(doc["id"]):
            return doc
    pytest.skip("the seeded history has no such job")


def _client(emu) -> NanServer:
    real = jobarchive.connect(emu.url, emu.token, backoff_factor=0.01).api_client
    return NanServer(real.http_url, real._token, transport=real.transport)


@pytest.mark.parametrize("payload, read, where", [
    ("result", lambda job: job.result(), r"results\.0\.metadata\.fidelity.*nan"),
    ("qobj", lambda job: job.qobj(), r"config\.rep_delay.*inf"),
])
def test_a_downloaded_payload_json_cannot_carry_is_refused_not_distorted(emu, arc, payload, read, where):
    doc = _completed_external(emu)
    job = IBMQJob.from_server(emu.job_doc(doc["id"]), api_client=_client(emu))
    with pytest.raises(IBMQJobApiError, match=where):
        read(job)
    record = job.to_dict()
    assert record[payload] is None  # not kept: it cannot be archived as sent
    assert IBMQJob.from_dict(record).to_dict() == record  # the DESIGN invariant holds
    arc.add(job)
    assert arc.get(doc["id"]).to_dict()[payload] is None  # nothing distorted was stored


class NanQueue(ApiClient):
    """The emulator's status answers with a ``NaN`` queue priority."""

    def job_status(self, job_id):
        answer = super().job_status(job_id)
        answer["status"] = "QUEUED"
        answer["infoQueue"] = {"status": "PENDING_IN_QUEUE", "position": 3,
                               "hubPriority": float("nan")}
        return answer


def test_a_status_answer_json_cannot_carry_is_refused_not_distorted(arc):
    with emulator.Emulator(seed_jobs=0, seed_active=3, seed=2, time_scale=1e-6) as slow:
        real = jobarchive.connect(slow.url, slow.token, backoff_factor=0.01).api_client
        client = NanQueue(real.http_url, real._token, transport=real.transport)
        doc = slow.job_docs()[0]
        job = IBMQJob.from_server(slow.job_doc(doc["id"]), api_client=client)
        before = job.to_dict()
        with pytest.raises(IBMQJobApiError, match=r"hub_priority.*nan"):
            job.status()
    assert job.to_dict() == before  # the record did not take the answer
    assert IBMQJob.from_dict(job.to_dict()).to_dict() == job.to_dict()
    arc.add(job)
    assert arc.get(doc["id"]).to_dict()["info_queue"] == before["info_queue"]
