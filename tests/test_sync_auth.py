"""Sync when the account's token stops working mid-sync, against the emulator."""

from __future__ import annotations

import pytest
from test_sync import _then as _after_first_list  # runs an action after the first list page

import jobarchive
from jobarchive import Archive
from jobarchive.emulator import Emulator


def test_a_token_revoked_mid_sync_stops_it_at_once_and_a_new_token_resumes(tmp_path):
    with Emulator(seed_jobs=200, seed=3) as emu, Archive(tmp_path / "a") as arc:
        provider = _after_first_list(jobarchive.connect(emu.url, emu.token),
                                     lambda: (emu.revoke_token(), emu.reset_stats()))
        with pytest.raises(jobarchive.exceptions.IBMQError, match="token") as info:
            arc.sync(provider, progress=False, workers=4, batch_size=50)
        assert "401" in str(info.value)
        # A few jobs tell the token is refused; not one refused request per remaining job.
        assert emu.stats()["total"] < 30, emu.stats()
        assert arc.audit()["ok"].all()
        emu.token = "the-new-token-of-the-same-account"
        report = arc.sync(jobarchive.connect(emu.url, emu.token), progress=False)
        assert not report.failed and len(arc) == 200
        assert all(arc.record(d["id"])["result"] == emu.result_of(d["id"])
                   for d in emu.job_docs())
