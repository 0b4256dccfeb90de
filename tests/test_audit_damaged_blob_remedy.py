"""Each job of a damaged blob file is told what restores it, and doing what it says does.
A file of the right size with one bit flipped (a failing disk) was "does not match its
SHA-256 (altered on disk)" and nothing more; the CLI's one hint said to run sync, which
fetches payloads again only for a missing file: the sync did nothing
and the audit failed again."""

from __future__ import annotations

import shutil

import pytest
from audit_jobs import bell_qobj

import jobarchive
from jobarchive import Archive
from jobarchive.emulator import Emulator
from jobarchive.qobj import simulate_qobj


def _flip(blob):
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.write_bytes(data)


def _replace(blob):
    """Another archive's blob file under this one's name (a restore that mixed them up)."""
    other = Archive(blob.parent.parent.parent / "other.jobarchive")
    other.add_many([{"job_id": f"other{i}", "creation_date": "2021-01-01T00:00:00Z",
                     "status": "COMPLETED", "qobj": bell_qobj(100 + i),
                     "result": simulate_qobj(bell_qobj(100 + i), seed=i)} for i in range(40)])
    other.close()
    shutil.copyfile(next((other.path / "blobs").glob("*.parquet")), blob)


def _truncate(blob):
    data = blob.read_bytes()
    blob.write_bytes(data[: len(data) // 2])


DAMAGES = {"bit flipped": _flip, "truncated": _truncate, "deleted": lambda blob: blob.unlink(),
           "replaced": _replace}


def _synced(tmp_path, emu, damage):
    path = tmp_path / "lab.jobarchive"
    with Archive(path) as arc:
        arc.sync(jobarchive.connect(emu.url, emu.token), progress=False)
        with_blob = {job_id for job_id, _, _ in arc.index.locations(None)}
    blob, = (path / "blobs").glob("*.parquet")
    damage(blob)
    return path, blob, with_blob


@pytest.mark.parametrize("damage", DAMAGES.values(), ids=DAMAGES.keys())
def test_the_problem_of_each_job_says_what_restores_it(tmp_path, damage):
    with Emulator(seed_jobs=12, seed=5) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        path, blob, with_blob = _synced(tmp_path, emu, damage)

        with Archive(path) as arc:
            frame = arc.audit(progress=False)
            bad = frame[~frame["ok"]]
            assert set(bad["job_id"]) == with_blob
            advice = bad["problem"].iloc[0]
            assert bad["problem"].eq(advice).all()
            assert blob.name in advice and "restore it from a backup" in advice, advice
            # What it says besides a backup, done as it says it:
            if "move it out of blobs/" in advice:
                shutil.move(blob, tmp_path / blob.name)
            else:
                assert "run sync" in advice, advice
            assert not arc.sync(provider, progress=False).failed
            frame = arc.audit(progress=False)
            assert frame["ok"].all(), frame.loc[~frame["ok"], "problem"].iloc[0]


@pytest.mark.parametrize("damage", [_truncate, _replace], ids=["truncated", "replaced"])
def test_sync_fetches_again_the_payloads_of_a_file_of_another_size(tmp_path, damage):
    with Emulator(seed_jobs=12, seed=5) as emu:
        path, _, with_blob = _synced(tmp_path, emu, damage)
        with Archive(path) as arc:
            arc.sync(jobarchive.connect(emu.url, emu.token), progress=False)
            assert all(arc.record(j)["result"] == emu.result_of(j) for j in with_blob)
            assert arc.audit(progress=False)["ok"].all()
