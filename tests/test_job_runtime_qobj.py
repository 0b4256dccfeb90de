"""A runtime job (kind "runtime", real 2024 documents) runs a program, not a qobj: sync and
audit know it has none by design. Its qobj() used to go looking for one anyway: offline it
said "cannot download its qobj (none is stored)", as if the server held one, and live it
asked the server's jobDownloadUrl for a qobj that does not exist. It now answers None, as
upstream does for a job without a qobj, and circuits(), backend_options() and header()
answer [] and {}."""

from __future__ import annotations

import pytest

import jobarchive
from jobarchive import IBMQJob

Emulator = pytest.importorskip("jobarchive.emulator").Emulator


def _runtime_doc(real_corpus) -> dict:
    return next(e["document"] for e in real_corpus
                if e["document"].get("kind") == "runtime")


def test_a_runtime_job_has_no_qobj_offline(real_corpus, arc):
    doc = _runtime_doc(real_corpus)
    arc.add(IBMQJob.from_server(doc))
    job = arc.get(doc["id"])
    assert job.qobj() is None
    assert job.circuits() == [] and job.backend_options() == {} and job.header() == {}


def test_a_live_runtime_job_does_not_ask_the_server_for_a_qobj(real_corpus):
    with Emulator(seed_jobs=0, seed=1) as emu:
        provider = jobarchive.connect(emu.url, emu.token, max_retries=0)
        job = IBMQJob.from_server(_runtime_doc(real_corpus), api_client=provider.api_client)
        emu.reset_stats()
        assert job.qobj() is None and job.circuits() == []
        assert emu.stats()["total"] == 0
