"""What a sync report says is what it did, as SyncReport's docstring and the README word it:
``refreshed`` archived jobs re-read from the server, ``changed`` those whose record changed.
A user who lost a blob file and synced again read "0 refreshed (176 changed)"."""

from __future__ import annotations

from jobarchive import Archive, connect
from jobarchive.emulator import Emulator


def test_changed_jobs_are_among_the_refreshed(tmp_path):
    with Emulator(seed_jobs=60, seed=3) as emu, Archive(tmp_path / "a.jobarchive") as arc:
        provider = connect(emu.url, emu.token)
        arc.sync(provider, progress=False)
        blob = sorted((arc.path / "blobs").rglob("*.parquet"))[0]
        blob.unlink()
        report = arc.sync(provider, progress=False)
        assert report.results_fetched > 0  # the payloads came back
        assert report.changed <= report.refreshed, str(report)
