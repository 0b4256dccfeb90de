"""Access-token expiry: the client logs in again with the API token, once, and says what
to do when that does not help (emulator over real sockets; its clock is moved, not waited)."""

from __future__ import annotations

import pytest

import jobarchive
from jobarchive import Archive
from jobarchive.exceptions import IBMQBackendApiError

emulator = pytest.importorskip("jobarchive.emulator")
Emulator = emulator.Emulator
TTL = 1209600  # seconds; the `ttl` of the login answer (realdata, reference §3.1)


def _expire(emu, provider) -> None:
    """Two weeks pass: on the emulator's clock and on the client's (a mocked clock)."""
    emu.advance(TTL + 1)
    transport = provider.api_client.transport
    real = transport.clock
    transport.clock = lambda: real() + TTL + 1


def test_the_emulator_expires_access_tokens_after_their_ttl():
    with Emulator(seed_jobs=3, seed=1) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        provider.api_client.transport.max_retries = 0
        _expire(emu, provider)
        provider.api_client._relogin = None  # a client that cannot log in again
        with pytest.raises(IBMQBackendApiError, match="401"):
            provider.jobs(limit=1)


def test_an_expired_access_token_is_renewed_once_and_the_call_succeeds():
    with Emulator(seed_jobs=10, seed=1) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        before = [j.job_id() for j in provider.jobs(limit=5)]
        _expire(emu, provider)
        emu.reset_stats()
        assert [j.job_id() for j in provider.jobs(limit=5)] == before
        assert emu.stats()["login"] == 1


def test_a_sync_with_many_workers_logs_in_again_only_once(tmp_path):
    with Emulator(seed_jobs=5, seed_active=40, seed=2, time_scale=1e-6) as emu, \
            Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        assert arc.sync(provider, progress=False).pending == 40
        _expire(emu, provider)  # the active jobs finish too: 40 results to fetch, 8 workers
        emu.reset_stats()
        report = arc.sync(provider, progress=False, workers=8)
        assert not report.failed and report.pending == 0
        assert emu.stats()["login"] == 1



def test_a_401_on_a_young_access_token_does_not_log_in_again():
    # Not an expiry (e.g. no access to the project): no login per call, a clear message.
    with Emulator(seed_jobs=3, seed=1) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        emu.advance(TTL + 1)  # the client's clock says the token is seconds old
        emu.reset_stats()
        for _ in range(3):
            with pytest.raises(IBMQBackendApiError, match="connect"):
                provider.jobs(limit=1)
        assert "login" not in emu.stats()


def test_a_revoked_api_token_fails_clearly_without_leaking_it():
    with Emulator(seed_jobs=3, seed=1) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        old = emu.token
        emu.token = "a-new-api-token-the-client-does-not-know"
        _expire(emu, provider)
        emu.reset_stats()
        with pytest.raises(IBMQBackendApiError, match="connect") as info:
            provider.jobs(limit=1)
        assert old not in str(info.value) and "401" in str(info.value)
        assert emu.stats()["login"] == 1
