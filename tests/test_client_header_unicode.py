"""``QE_CUSTOM_CLIENT_APP_HEADER`` with text beyond ASCII (a lab's name in its own script)
or a stray newline: every request still goes out, and jobs submitted carry jobarchive's
clientInfo (emulator over real sockets)."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

import jobarchive
from jobarchive.api import client_application_header

emulator = pytest.importorskip("jobarchive.emulator")
Emulator = emulator.Emulator


@pytest.mark.parametrize("custom", ["量子ラボ", "café lab", "lab42\n"])
def test_a_custom_client_header_beyond_ascii_does_not_break_requests(monkeypatch, custom):
    monkeypatch.setenv("QE_CUSTOM_CLIENT_APP_HEADER", custom)
    with Emulator(seed_jobs=3, seed=1) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        assert len(provider.jobs(limit=None)) == 3
        qobj = emu.qobj_of(emu.job_docs()[0]["id"])
        backend = provider.backends()[0]
        job = backend.run(qobj)
        info = emu.job_doc(job.job_id())["clientInfo"]
        assert info == {"name": "jobarchive", "version": jobarchive.__version__}
    header = client_application_header()
    assert header.isascii() and header.isprintable()
    assert unquote(header) == f"jobarchive/{jobarchive.__version__}/{custom}"
