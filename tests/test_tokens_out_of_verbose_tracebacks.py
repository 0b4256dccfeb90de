"""Verbose tracebacks (IPython's %xmode Verbose, rich's show_locals, pytest --showlocals,
error trackers) print every local variable of every frame. A failed call showed the access
token in the transport's request headers, and a failed login the API token twice: in the
login body and in connect()'s own argument. Real emulator on 127.0.0.1."""

from __future__ import annotations

import traceback

import pytest

import jobarchive
from jobarchive.emulator import Emulator
from jobarchive.exceptions import IBMQError


def _verbose(err: BaseException) -> str:
    """The locals of the package's frames, as a verbose traceback prints them (the test's
    own frame holds the tokens it passes)."""
    lines = []
    shown: traceback.TracebackException | None = traceback.TracebackException.from_exception(
        err, capture_locals=True)
    while shown is not None:  # the exception and those it was raised from, as printed
        lines += [f"{name} = {value}" for frame in shown.stack
                  if "/jobarchive/" in frame.filename
                  for name, value in (frame.locals or {}).items()]
        shown = shown.__cause__ or (None if shown.__suppress_context__ else shown.__context__)
    return "\n".join(lines)


def test_no_token_in_the_locals_of_a_failed_call_or_login():
    with Emulator(seed_jobs=2, seed=1) as emu:
        client = jobarchive.connect(emu.url, emu.token).api_client
        with pytest.raises(IBMQError) as call:
            client.job_get("no-such-job")
        wrong = "wrong-api-token-" + "7" * 24
        with pytest.raises(IBMQError) as login:
            jobarchive.connect(emu.url, wrong)
        texts = [_verbose(call.value), _verbose(login.value)]
        access = client._token.value
    assert "send_headers" in texts[0] and "json_body" in texts[1]  # the frames are there
    for text in texts:
        for secret in (emu.token, access, wrong):
            assert secret not in text, [line for line in text.splitlines() if secret in line]
