"""Job ids (and backend names) are untrusted: they come from users and from the server's
lists. One that is "." or ".." became a dot segment that requests resolve before sending,
so ``job_get(".")`` listed every job (GET {P}/Jobs/v/1) and ``job_get("..")`` asked {P}/v/1,
with the access token, and the caller got a baffling answer. Such an id is refused before
any request. Real emulator on 127.0.0.1."""

from __future__ import annotations

import pytest

import jobarchive
from jobarchive.emulator import Emulator
from jobarchive.exceptions import ApiError, IBMQBackendApiError


@pytest.fixture(scope="module")
def emu():
    with Emulator(seed_jobs=3, seed=1) as emu:
        yield emu


@pytest.fixture(scope="module")
def provider(emu):
    return jobarchive.connect(emu.url, emu.token)


@pytest.mark.parametrize("job_id", [".", "..", ""])
def test_a_dot_job_id_sends_nothing_and_says_why(emu, provider, job_id):
    emu.reset_stats()
    with pytest.raises(IBMQBackendApiError, match="not a valid job id"):
        provider.retrieve_job(job_id)
    with pytest.raises(ApiError, match="not a valid job id"):
        provider.api_client.job_update_attribute(job_id, "tags", ["x"])
    with pytest.raises(ApiError, match="not a valid job id"):
        provider.api_client.job_cancel(job_id)
    assert emu.stats().get("total", 0) == 0


def test_a_dot_backend_name_sends_nothing(emu, provider):
    emu.reset_stats()
    with pytest.raises(ApiError, match="backend"):
        provider.api_client.backend_status("..")
    assert emu.stats().get("total", 0) == 0
