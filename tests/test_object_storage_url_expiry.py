"""Pre-signed object-storage URLs expire (S3 answers 403 "Request has expired"): a download
refused that way asks the API for a fresh URL once, and never loops (emulator over real
sockets; the backoff sleep is replaced by a jump of the emulated clock)."""

from __future__ import annotations

import pytest

import jobarchive
from jobarchive.exceptions import RequestsApiError

emulator = pytest.importorskip("jobarchive.emulator")
Emulator = emulator.Emulator

URL_TTL = 60.0  # emulated seconds a download URL stays valid


def _completed(emu) -> str:
    return next(d["id"] for d in emu.job_docs() if d["status"] == "COMPLETED")


@pytest.mark.parametrize("endpoint", ["storage_result", "storage_qobj"])
def test_a_download_url_that_expired_while_retrying_is_fetched_again(endpoint):
    with Emulator(seed_jobs=8, seed=1, url_ttl=URL_TTL) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        job_id = _completed(emu)
        emu.set_faults({"rate": 1.0, "kinds": ["503"], "endpoints": [endpoint]})

        def storage_down_longer_than_the_url_lives(seconds: float) -> None:
            emu.set_faults(None)
            emu.advance(2 * URL_TTL)

        provider.api_client.transport.sleep = storage_down_longer_than_the_url_lives
        emu.reset_stats()
        if endpoint == "storage_result":
            assert provider.api_client.job_result(job_id) == emu.result_of(job_id)
            assert emu.stats()["job_result_url"] == 2
        else:
            assert provider.api_client.job_qobj(job_id) == emu.qobj_of(job_id)
            assert emu.stats()["job_qobj_url"] == 2


def test_a_job_result_reads_through_an_expired_url():
    # The user's path: IBMQJob.result() of a retrieved job.
    with Emulator(seed_jobs=8, seed=1, url_ttl=URL_TTL) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        job_id = _completed(emu)
        job = provider.retrieve_job(job_id)
        emu.set_faults({"rate": 1.0, "kinds": ["502"], "endpoints": ["storage_result"]})

        def slow_wait(seconds: float) -> None:
            emu.set_faults(None)
            emu.advance(2 * URL_TTL)

        provider.api_client.transport.sleep = slow_wait
        expected = emu.result_of(job_id)["results"][0]["data"]["counts"]
        assert job.result().results[0].data.counts == expected


def test_storage_refusing_every_fresh_url_fails_after_one_renewal():
    # URLs dead on arrival (a server clock far ahead of storage's): one new URL, then a clear
    # 403, not a loop of URL requests.
    with Emulator(seed_jobs=8, seed=1, url_ttl=0) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        job_id = _completed(emu)
        emu.reset_stats()
        with pytest.raises(RequestsApiError) as info:
            provider.api_client.job_result(job_id)
        assert info.value.status_code == 403
        assert "Request has expired" in str(info.value)
        assert "sig=" not in str(info.value) and "expires=" not in str(info.value)
        stats = emu.stats()
        assert stats["job_result_url"] == 2 and stats["storage_result"] == 2
        assert "job_result_downloaded" not in stats


def test_a_403_from_the_api_itself_is_not_taken_for_an_expired_url():
    with Emulator(seed_jobs=8, seed=1, url_ttl=URL_TTL) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        job_id = _completed(emu)
        emu.make_unreachable(job_id, 403, "FORBIDDEN", "No access to this job")
        emu.reset_stats()
        with pytest.raises(RequestsApiError) as info:
            provider.api_client.job_result(job_id)
        assert info.value.status_code == 403
        assert emu.stats()["job_result_url"] == 1 and "storage_result" not in emu.stats()
