"""Result acknowledgements (POST resultDownloaded) are best effort: the job is archived
before it is sent, and a failure is only logged. They share the sync's worker pool, so
one the server rate limits ("retry in 30 s", five times) held a worker for minutes while
the result fetches queued behind it. An acknowledgement now gives up within
ACKNOWLEDGE_SECONDS; the sleeps are recorded, not slept."""

from __future__ import annotations

import pytest

import jobarchive
from jobarchive import Archive
from jobarchive.api import ACKNOWLEDGE_SECONDS

emulator = pytest.importorskip("jobarchive.emulator")


def test_a_rate_limited_acknowledgement_does_not_sit_out_its_retries(tmp_path):
    with emulator.Emulator(seed_jobs=12, seed=5) as emu:
        emu.set_faults({"rate": 1.0, "kinds": ["429"], "retry_after": 30, "seed": 1,
                        "endpoints": ["job_result_downloaded"]})
        provider = jobarchive.connect(emu.url, emu.token)
        slept: list[float] = []
        provider.api_client.transport.sleep = slept.append
        with Archive(tmp_path / "a") as arc:
            report = arc.sync(provider, progress=False, workers=4)
            assert len(arc) == 12 and arc.counts().job_id.nunique() == report.results_fetched > 0
        # Every result was acknowledged once; none was retried after a 30 s wait.
        assert emu.stats()["job_result_downloaded"] == report.results_fetched
        assert not [s for s in slept if s >= ACKNOWLEDGE_SECONDS], slept


def test_a_failing_acknowledgement_is_retried_within_its_budget(tmp_path):
    # A 503 without Retry-After backs off in short steps: those fit in the budget and the
    # acknowledgement is still retried (a blip does not drop it).
    with emulator.Emulator(seed_jobs=6, seed=5) as emu:
        emu.set_faults({"rate": 1.0, "kinds": ["503"], "seed": 1,
                        "endpoints": ["job_result_downloaded"]})
        provider = jobarchive.connect(emu.url, emu.token, backoff_factor=0.01)
        with Archive(tmp_path / "a") as arc:
            report = arc.sync(provider, progress=False, workers=2)
        assert emu.stats()["job_result_downloaded"] > report.results_fetched > 0
