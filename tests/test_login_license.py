"""Login of an account that must accept the license first (reference §3.0): emulator over
real sockets."""

from __future__ import annotations

import pytest

import jobarchive
from jobarchive.emulator import Emulator
from jobarchive.exceptions import AuthenticationLicenseError


def test_an_account_that_must_accept_the_license_is_told_how():
    with Emulator(seed_jobs=0, seed=1) as emu:
        token = emu.add_account(license_required=True)
        with pytest.raises(AuthenticationLicenseError) as info:
            jobarchive.connect(emu.url, token)
        text = str(info.value)
        assert info.value.__class__ is AuthenticationLicenseError and token not in text
        assert "accept" in text.lower() and "quantum-computing.ibm.com" in text, text
        assert "Error code: None" not in text
        # Other accounts log in as before.
        assert jobarchive.connect(emu.url, emu.token).backends()


def test_an_unknown_job_id_says_where_it_was_looked_for():
    from jobarchive.exceptions import IBMQBackendApiError

    with Emulator(seed_jobs=1, seed=1) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        with pytest.raises(IBMQBackendApiError, match="Error code: 3250") as info:
            provider.retrieve_job("5f0000000000000000000000")
        text = str(info.value)
        assert "ibm-q/open/main" in text and "check the job id" in text, text
