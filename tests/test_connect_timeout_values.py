"""connect()'s ``timeout``: upstream's default ``(5, None)`` (no read limit, as requests
spells it) works, deadlines still bound it, and a value that cannot be a timeout is refused
with a clear ValueError before any request (emulator over real sockets)."""

from __future__ import annotations

import math

import pytest

import jobarchive

emulator = pytest.importorskip("jobarchive.emulator")
Emulator = emulator.Emulator


@pytest.mark.parametrize("timeout, expected", [
    ((5, None), (5.0, None)), ((None, 30), (None, 30.0)), (math.inf, (5.0, None)),
    ((2, math.inf), (2.0, None)), (3, (3.0, 3.0)), (None, (5.0, 120.0)),
])
def test_no_read_limit_is_spelled_as_in_requests(timeout, expected):
    with Emulator(seed_jobs=3, seed=1) as emu:
        provider = jobarchive.connect(emu.url, emu.token, timeout=timeout)
        client = provider.api_client
        assert client.transport.timeout == expected
        assert len(provider.jobs(limit=None)) == 3
        with client.deadline(30.0):  # a deadline caps a part that has no limit
            assert client.job_get(emu.job_docs()[0]["id"])["id"]


@pytest.mark.parametrize("timeout", [0, -1, math.nan, "10", (1, 2, 3), (0, 5), (5, -1),
                                     True, (5, "x")])
def test_a_value_that_is_no_timeout_is_refused_before_any_request(timeout):
    with Emulator(seed_jobs=1, seed=1) as emu:
        with pytest.raises(ValueError, match="timeout"):
            jobarchive.connect(emu.url, emu.token, timeout=timeout)
        assert emu.stats().get("total", 0) == 0
