"""A login answer cut in transit still carries (part of) the new access token: the error that
says it could not be read, its causes and the log lines never quote it (emulator over real
sockets; its clock is moved, not waited)."""

from __future__ import annotations

import logging

import pytest

import jobarchive
from jobarchive.exceptions import IBMQError

emulator = pytest.importorskip("jobarchive.emulator")
Emulator = emulator.Emulator
TTL = 1209600  # seconds an access token lives (the login answer's `ttl`)
CUT = {"rate": 1.0, "kinds": ["garbled"], "endpoints": ["login"], "seed": 2}


def _texts(err: BaseException) -> str:
    out = []
    seen: BaseException | None = err
    while seen is not None:
        out.append(f"{seen} {seen!r}")
        seen = seen.__cause__ or seen.__context__
    return "\n".join(out)


def _leaks(emu, text: str) -> list[str]:
    # Every access token the server handed out, by its first 16 characters: half a token
    # is a leak too.
    return [a[:16] for a in emu._access if a[:16] in text] + \
        ([emu.token] if emu.token in text else [])


def test_connect_never_quotes_the_access_token_of_a_cut_login_answer(caplog):
    caplog.set_level(logging.DEBUG)
    with Emulator(seed_jobs=3, seed=1) as emu:
        emu.set_faults(CUT)
        with pytest.raises(IBMQError) as info:
            jobarchive.connect(emu.url, emu.token, max_retries=1, backoff_factor=0.0)
        assert emu._access, "the cut logins did hand out access tokens"
        assert not _leaks(emu, _texts(info.value) + caplog.text)


def test_logging_in_again_never_logs_the_access_token_of_a_cut_answer(caplog):
    caplog.set_level(logging.DEBUG)
    with Emulator(seed_jobs=3, seed=1) as emu:
        provider = jobarchive.connect(emu.url, emu.token, max_retries=1, backoff_factor=0.0)
        emu.advance(TTL + 1)
        transport = provider.api_client.transport
        real = transport.clock
        transport.clock = lambda: real() + TTL + 1
        emu.set_faults(CUT)
        with pytest.raises(IBMQError) as info:
            provider.jobs(limit=1)
        assert len(emu._access) > 1, "the cut logins did hand out access tokens"
        assert not _leaks(emu, _texts(info.value) + caplog.text)
