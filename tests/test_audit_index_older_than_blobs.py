"""index.db restored from an older backup beside the newer blobs (a disk restore, a copy of
index.db from last week): the jobs that finished since then have their results only in
blob files the restored index does not know. The audit said every job was ok and called
those files harmless orphans, and ``audit(repair=True)`` deleted them: the results were
gone from the archive, for good once the server no longer serves them."""

from __future__ import annotations

import shutil

import jobarchive
from jobarchive import Archive
from jobarchive.audit import note_kind_counts
from jobarchive.emulator import Emulator


def _restore_older_index(path, backup):
    for name in ("index.db-wal", "index.db-shm"):
        (path / name).unlink(missing_ok=True)
    shutil.copyfile(backup / "index.db", path / "index.db")


def test_repair_keeps_results_the_restored_index_lacks(tmp_path):
    path, backup = tmp_path / "lab.jobarchive", tmp_path / "last-week"
    with Emulator(seed_jobs=8, seed=7, seed_active=6, time_scale=600.0) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        with Archive(path) as arc:
            arc.sync(provider, progress=False)
            running = set(arc.query(status=["QUEUED", "RUNNING", "VALIDATING", "INITIALIZING"])
                          ["job_id"])
            arc.backup(backup)
            emu.advance(5 * 3600)
            arc.sync(provider, progress=False)
            finished = running & set(arc.query(status="DONE")["job_id"])
        assert finished
        newer = {p.name for p in (path / "blobs").glob("*.parquet")} \
            - {p.name for p in (backup / "blobs").glob("*.parquet")}
        _restore_older_index(path, backup)

        with Archive(path) as arc:
            frame = arc.audit(progress=False).set_index("job_id")
            kept = frame.attrs["kept_orphans"]
            assert {f"blobs/{name}" for name in newer} <= set(kept), kept
            for job_id in finished:
                assert "orphan blob holds the result" in frame.loc[job_id, "notes"], \
                    frame.loc[job_id, "notes"]
                assert "index.db" in frame.loc[job_id, "notes"]
            # One finding a job, counted as one kind (notes are joined by "; ").
            kinds = note_kind_counts(frame.loc[sorted(finished), "notes"])
            assert kinds.to_dict() == {next(iter(kinds.index)): len(finished)}, kinds
            repaired = arc.audit(repair=True, progress=False)
            assert not repaired.attrs["removed_orphans"]
            assert all((path / "blobs" / name).exists() for name in newer)

            # Once the archive has those results again, the files hold nothing it lacks.
            arc.sync(provider, progress=False)
            assert finished <= set(arc.query(status="DONE")["job_id"])
            repaired = arc.audit(repair=True, progress=False)
            assert set(repaired.attrs["removed_orphans"]) == {f"blobs/{n}" for n in newer}
            assert repaired["ok"].all() and not repaired["notes"].str.contains("orphan").any()
