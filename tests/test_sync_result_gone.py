"""A DONE job whose result the server no longer serves (here: results are served once, and
another client downloaded and acknowledged it before any sync archived it). Every sync
asked for it again and reported the job failed, forever; now bounded like an unlisted job:
reported a few syncs, then given up with a clear line, the job archived without its result.
Real emulator on 127.0.0.1, real files in tmp_path."""

from __future__ import annotations

import jobarchive
from jobarchive import Archive
from jobarchive.emulator import Emulator


def test_a_result_the_server_no_longer_serves_is_given_up_after_a_few_syncs(tmp_path):
    with Emulator(seed_jobs=8, seed=3, consume_results=True) as emu, \
            Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(emu.url, emu.token, max_retries=0)
        done = next(d["id"] for d in emu.job_docs() if d["status"] == "COMPLETED")
        provider.retrieve_job(done).result()  # another client reads and acknowledges it
        first = arc.sync(provider, progress=False, give_up_unlisted_after=3)
        assert done in first.failed and "1 of 3 syncs" in first.failed[done]
        assert done in arc and arc.record(done)["result"] is None
        assert arc.record(done)["qobj"] == emu.qobj_of(done)  # the rest is archived
        second = arc.sync(provider, progress=False, give_up_unlisted_after=3)
        assert "2 of 3 syncs" in second.failed[done]
        third = arc.sync(provider, progress=False, give_up_unlisted_after=3)
        assert done not in third.failed and "no longer serves" in third.given_up[done]
        assert "full sync" in third.given_up[done]
        emu.reset_stats()
        quiet = arc.sync(provider, progress=False)
        assert not quiet.failed and not quiet.given_up
        assert emu.stats().get("job_result_url", 0) == 0
        # A full sync asks again: the server serves it once more, and it is archived.
        emu._consumed.discard(done)
        full = arc.sync(provider, progress=False, full=True)
        assert not full.failed and not full.given_up and full.results_fetched == 1
        assert arc.record(done)["result"] == emu.result_of(done)
        emu.reset_stats()
        assert not arc.sync(provider, progress=False, full=True).failed
        assert emu.stats().get("job_result_url", 0) == 0
