"""A laptop that connects and is closed within the minute: the monotonic clock stops while
it sleeps, so after a night the access token, expired on the server, read as seconds old,
and its 401 was taken for a refusal ("check that the API token is valid") instead of
being renewed. The token's age now follows the later of the monotonic and the wall clock
(the clocks are moved, the emulator's too; nothing is waited for)."""

from __future__ import annotations

import pytest

import jobarchive

emulator = pytest.importorskip("jobarchive.emulator")
TTL = 1209600  # seconds an access token lives (the login answer's `ttl`)


def test_a_token_that_expired_while_the_machine_slept_is_renewed():
    with emulator.Emulator(seed_jobs=3, seed=1) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        job_id = emu.job_docs()[0]["id"]
        assert provider.retrieve_job(job_id).job_id() == job_id
        emu.advance(TTL + 1)  # a night and two weeks later for the server
        transport = provider.api_client.transport
        real_wall = transport.wall
        transport.wall = lambda: real_wall() + TTL + 1  # the monotonic clock did not move
        logins = emu.stats().get("login", 0)
        assert provider.retrieve_job(job_id).job_id() == job_id
        assert emu.stats()["login"] == logins + 1

