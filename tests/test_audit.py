"""audit(): corrupted blobs are found (never raised), intact archives are clean, and the
reproducibility checks (completeness, provenance, BasicSimulator re-runs) report right."""

from __future__ import annotations

import json
import math
from collections import defaultdict

import pytest
from qiskit.quantum_info import hellinger_fidelity as qiskit_hellinger
from retag_child import make_jobs

from jobarchive import Archive, IBMQJob
from jobarchive.audit import AUDIT_COLUMNS, hellinger_fidelity


@pytest.fixture
def multi(tmp_path):
    """An archive whose 48 jobs sit in 4 blob files (one per add_many batch)."""
    arc = Archive(tmp_path / "audit.jobarchive")
    jobs = make_jobs(48, seed=4)
    for i in range(0, 48, 12):
        arc.add_many(jobs[i:i + 12])
    yield arc, jobs
    arc.close()


def _blob_jobs(arc) -> dict[str, set[str]]:
    out = defaultdict(set)
    for job_id, path, _ in arc.index.locations(None):
        out[path].add(job_id)
    return dict(out)


def test_intact_archive_has_no_findings(multi):
    arc, jobs = multi
    for verify in (True, False):
        frame = arc.audit(verify=verify)
        assert list(frame.columns) == list(AUDIT_COLUMNS)
        assert len(frame) == len(jobs)
        assert frame["ok"].all() and frame["blob_ok"].all()
        assert (frame["problem"] == "").all()
        assert frame["complete"].all() and frame["provenance"].all()
        summary = frame.attrs["summary"]
        assert summary["problems"] == 0 and summary["bad_blobs"] == 0 and summary["orphans"] == 0
        assert summary["blobs"] == 4


def test_flipped_truncated_and_deleted_blobs_are_each_found(multi):
    arc, _ = multi
    owners = _blob_jobs(arc)
    flipped, truncated, deleted = sorted(owners)[:3]
    intact = sorted(owners)[3]
    path = arc.path / flipped
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    path = arc.path / truncated
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    (arc.path / deleted).unlink()

    frame = arc.audit(reproduce=True)  # re-runs must not trip over the bad blobs either
    bad = frame[~frame["ok"]].set_index("job_id")
    assert set(bad.index) == owners[flipped] | owners[truncated] | owners[deleted]
    assert not (set(frame[frame["ok"]]["job_id"]) & (set(bad.index) - owners[intact]))
    assert all("SHA-256" in bad.loc[j, "problem"] for j in owners[flipped])
    assert all("truncated" in bad.loc[j, "problem"] for j in owners[truncated])
    assert all("missing" in bad.loc[j, "problem"] for j in owners[deleted])
    assert not bad["blob_ok"].any()
    assert frame.attrs["summary"]["bad_blobs"] == 3
    # without re-hashing, size and presence still catch truncation and deletion
    quick = arc.audit(verify=False)
    assert set(quick[~quick["ok"]]["job_id"]) >= owners[truncated] | owners[deleted]


def test_same_size_tamper_without_verify_is_reported_not_raised(multi):
    arc, _ = multi
    owners = _blob_jobs(arc)
    target = sorted(owners)[0]
    path = arc.path / target
    data = bytearray(path.read_bytes())
    for i in range(4, len(data) - 8, 97):  # spread damage through pages and footer
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    frame = arc.audit(verify=False, reproduce=True)  # must not raise from pyarrow
    done_in_target = set(frame[(frame["status"] == "DONE")
                               & frame["job_id"].isin(owners[target])]["job_id"])
    bad = set(frame[~frame["ok"]]["job_id"])
    assert done_in_target <= bad
    assert arc.audit(verify=True).set_index("job_id").loc[sorted(owners[target]), "ok"].eq(False).all()


def test_orphans_listed_and_repaired(multi):
    arc, _ = multi
    (arc.path / "blobs" / "deadbeef.parquet").write_bytes(b"partial")
    frame = arc.audit()
    assert frame["ok"].all() and frame.attrs["orphans"] == ["blobs/deadbeef.parquet"]
    assert arc.audit(repair=True).attrs["removed_orphans"] == ["blobs/deadbeef.parquet"]
    assert arc.audit().attrs["orphans"] == []


@pytest.mark.terra046
def test_reproduce_matches_and_flags_tampered_counts(arc):
    jobs = make_jobs(20, seed=8)
    done = [j for j in jobs if j["status"] == "COMPLETED"]
    bad = json.loads(json.dumps(done[0]))
    bad["job_id"] = "bad000000000000000000000"
    for exp in bad["result"]["results"]:
        exp["data"]["counts"] = {"0x1": 200, "0x2": 56}  # never produced by these circuits
    arc.add_many([*jobs, bad])
    frame = arc.audit(reproduce=True).set_index("job_id")
    assert frame.loc[bad["job_id"], "flagged"] and not frame.loc[bad["job_id"], "ok"]
    assert frame.loc[bad["job_id"], "fidelity"] < 0.5
    assert "fidelity" in frame.loc[bad["job_id"], "problem"]
    for job in done:  # seeds stored with the result: exact reproduction
        assert frame.loc[job["job_id"], "fidelity"] == pytest.approx(1.0)
        assert frame.loc[job["job_id"], "ok"]
    others = frame[frame["status"] != "DONE"]
    assert others["fidelity"].isna().all() and not others["flagged"].any()
    summary = frame.attrs["summary"]
    assert summary["reproduced"] == len(done) + 1 and summary["flagged"] == 1
    # a lower threshold flags nothing; sampling and fewer shots work
    assert not arc.audit(reproduce=True, threshold=0.0)["flagged"].any()
    sampled = arc.audit(reproduce=True, sample=3, shots=64)
    assert sampled.attrs["summary"]["reproduced"] == 3
    assert sampled["fidelity"].notna().sum() == 3


def test_completeness_and_provenance(arc):
    jobs = make_jobs(12, seed=2)
    done = [j for j in jobs if j["status"] == "COMPLETED"]
    no_qobj, no_client = dict(done[0]), dict(done[1])
    no_qobj.pop("qobj")
    no_client["client_info"] = None
    no_client["backend_name"] = None
    arc.add_many([no_qobj, no_client])
    frame = arc.audit(reproduce=True).set_index("job_id")
    row = frame.loc[no_qobj["job_id"]]
    assert row["ok"] and not row["complete"] and "DONE without qobj" in row["notes"]
    assert math.isnan(row["fidelity"])
    row = frame.loc[no_client["job_id"]]
    assert not row["provenance"] and "client version not recorded" in row["notes"]
    assert "backend not recorded" in row["notes"]
    summary = frame.attrs["summary"]
    assert summary["incomplete"] == 1 and summary["no_provenance"] == 1



@pytest.mark.terra046
def test_real_device_job_reproduced(arc, realdata):
    doc = json.loads((realdata / "xacc_test_files" / "jobs_info.json").read_text())
    doc = doc[0] if isinstance(doc, list) else doc
    arc.add(IBMQJob.from_server(doc))
    frame = arc.audit(reproduce=True)
    row = frame.iloc[0]
    assert row["status"] == "DONE" and row["complete"]
    assert 0.0 < row["fidelity"] <= 1.0  # a noisy device against the ideal simulator


@pytest.mark.terra046
def test_hellinger_matches_qiskit():
    p, q = {"00": 480, "11": 520, "01": 24}, {"00": 500, "11": 500}
    assert hellinger_fidelity(p, q) == pytest.approx(qiskit_hellinger(p, q))
    assert hellinger_fidelity(p, p) == pytest.approx(1.0)
    assert hellinger_fidelity({"0": 5}, {"1": 5}) == 0.0


def test_audit_of_a_synced_archive(tmp_path):
    import jobarchive
    from jobarchive.emulator import Emulator

    with Emulator(seed_jobs=40, seed=3) as emu, \
            Archive(tmp_path / "synced.jobarchive") as arc:
        arc.sync(jobarchive.connect(emu.url, emu.token), progress=False)
        plain = arc.audit()
        assert plain["ok"].all() and plain["complete"].all() and plain["provenance"].all()
        frame = arc.audit(reproduce=True, threshold=0.0)
    done = frame[frame["status"] == "DONE"]
    assert len(done) and done["fidelity"].between(0.0, 1.0).all()
    assert frame["ok"].all()  # threshold 0 flags nothing
