"""Pre-signed object-storage URLs are credentials: whoever holds one reads (or writes) the
job's result or qobj until it expires. With logging at DEBUG (a user chasing a slow sync)
urllib3 logs every request line, query included, so each download's signature landed in the
log file. Real emulator on 127.0.0.1."""

from __future__ import annotations

import logging

import jobarchive
from jobarchive.emulator import Emulator


def test_debug_logs_carry_no_signature_nor_token(caplog):
    caplog.set_level(logging.DEBUG)
    with Emulator(seed_jobs=5, seed=3) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        client = provider.api_client
        job_id = next(d["id"] for d in emu.job_docs() if d["status"] == "COMPLETED")
        signed = [client.job_result_url(job_id)]
        assert client.job_result(job_id) == emu.result_of(job_id)
        assert client.job_qobj(job_id) == emu.qobj_of(job_id)
        lines = [r.getMessage() for r in caplog.records]
        access = client._token.value
    assert any("/storage/result/" in line for line in lines)  # urllib3 did log the requests
    signatures = [url.split("?", 1)[1] for url in signed]
    for line in lines:
        assert "sig=" not in line and not any(s in line for s in signatures), line
        assert emu.token not in line and access not in line, line
