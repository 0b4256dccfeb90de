"""A blob file lost from the archive (deleted, or on a disk that failed) must neither stop
every later sync nor stay lost while the server still serves the jobs' payloads: sync
fetches them again into a new blob, and the archive audits clean afterwards."""

from __future__ import annotations

import jobarchive
from jobarchive import Archive
from jobarchive.emulator import Emulator


def _blob_of(arc: Archive, job_id: str):
    (path,) = [p for j, p, _ in arc.index.locations([job_id])]
    return arc.path / path


def test_sync_fetches_again_the_payloads_of_a_lost_blob(tmp_path):
    with Emulator(seed_jobs=30, seed=5) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        with Archive(tmp_path / "a") as arc:
            arc.sync(provider, progress=False)
            done = list(arc.query(status="DONE").job_id)
            blob = _blob_of(arc, done[0])
            lost = [j for j, p, _ in arc.index.locations(None) if arc.path / p == blob]
            assert set(done) <= set(lost)  # one batch: every result was in the file
            blob.unlink()
            assert not arc.audit()["ok"].all()
        arc = Archive(tmp_path / "a")  # a later sync, in a new process say
        report = arc.sync(provider, progress=False)
        assert not report.failed
        assert report.results_fetched == sum(emu.result_of(j) is not None for j in lost) >= len(done)
        assert all(arc.record(j)["result"] == emu.result_of(j) for j in lost)
        assert all(arc.record(j)["qobj"] == emu.qobj_of(j) for j in lost)
        assert arc.audit()["ok"].all()
        assert len(arc.counts()) == sum(len(e["data"].get("counts", {})) for j in lost
                                        for e in (emu.result_of(j) or {"results": []})["results"])
        assert arc.sync(provider, progress=False).results_fetched == 0  # healed: nothing left to fetch
        arc.close()


def test_a_job_missing_its_qobj_whose_result_blob_is_lost_does_not_stop_sync(tmp_path):
    """The pass that fetches missing qobjs read the job's stored record, result included,
    from the lost file: BlobIntegrityError ended every sync of the archive there."""
    with Emulator(seed_jobs=30, seed=6) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        done = [d["id"] for d in emu.job_docs() if d["status"] == "COMPLETED"][:3]
        with Archive(tmp_path / "a") as arc:
            for job_id in done:  # archived by hand with its result, as a user's script does
                job = provider.retrieve_job(job_id)
                job.result()
                arc.add(job)
            frame = arc.query()
            assert frame.has_result.all() and len(arc.index.locations(done)) == 3
            _blob_of(arc, done[0]).unlink()
        with Archive(tmp_path / "a") as arc:  # a later sync, in a new process say
            report = arc.sync(provider, progress=False)
            assert not report.failed
            assert all(arc.record(j)["result"] == emu.result_of(j)
                       and arc.record(j)["qobj"] == emu.qobj_of(j) for j in done)
            assert arc.audit()["ok"].all()
