"""audit(): corrupted blobs are found (never raised), intact archives are clean, and the
reproducibility checks (completeness, provenance, BasicSimulator re-runs) report right."""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import subprocess
import sys
import threading
from collections import defaultdict

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from qiskit.quantum_info import hellinger_fidelity as qiskit_hellinger
from retag_child import make_jobs

from jobarchive import Archive, IBMQJob
from jobarchive.audit import AUDIT_COLUMNS, hellinger_fidelity
from jobarchive.cli import cli as cli_main
from jobarchive.store import blobs as blobs_mod


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


# --- storage integrity under concurrency, repair safety, blind spots ------------------------

def _job(i: int, tags: list[str] | None = None) -> dict:
    return {"job_id": f"job{i:08d}", "creation_date": "2022-01-01T00:00:00Z",
            "status": "COMPLETED", "backend_name": "ibmq_athens", "tags": tags or [],
            "result": {"results": [{"shots": 10, "data": {"counts": {hex(i): 10}}}]},
            "qobj": {"qobj_id": f"q{i}", "experiments": []}}


def _child(script: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _CHILD_PRELUDE + script, *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def _say(proc: subprocess.Popen, line: str = "") -> None:
    proc.stdin.write(line + "\n")
    proc.stdin.flush()


def _sql(arc_path, sql: str, params: tuple = ()) -> None:
    conn = sqlite3.connect(arc_path / "index.db")
    conn.execute(sql, params)
    conn.commit()
    conn.close()


_CHILD_PRELUDE = '''
import os, sys
from jobarchive import Archive
def job(i):
    return {"job_id": f"job{i:08d}", "creation_date": "2022-01-01T00:00:00Z",
            "status": "COMPLETED", "backend_name": "ibmq_athens", "tags": [],
            "result": {"results": [{"shots": 10, "data": {"counts": {hex(i): 10}}}]},
            "qobj": {"qobj_id": f"q{i}", "experiments": []}}
def say(line):
    print(line, flush=True)
'''

# A writer that stops twice inside add_many, holding the index's write lock: with its temp
# blob file written (not renamed), then with the blob durable but its rows not committed.
_PAUSED_WRITER = '''
from jobarchive.store import index as index_mod
real_replace, real_write_batch = os.replace, index_mod.Index.write_batch
def replace(src, dst):
    say("TMP"); sys.stdin.readline()
    real_replace(src, dst)
def write_batch(self, *args, **kwargs):
    say("DURABLE"); sys.stdin.readline()
    real_write_batch(self, *args, **kwargs)
os.replace, index_mod.Index.write_batch = replace, write_batch
arc = Archive(sys.argv[1])
arc.add(job(1))
say("ACK")
'''


def _repair(path):
    """audit(repair=True) on a connection of its own (a thread must not share one)."""
    with Archive(path) as arc:
        return arc.audit(verify=False, repair=True)


def test_repair_during_a_write_removes_nothing_in_flight(tmp_path):
    """audit(repair=True) while another process is inside add_many: neither the writer's
    temp file nor its durable, not yet committed blob is removed (repair runs under the
    index's write lock, which the writer holds from before its blob to its commit)."""
    path = tmp_path / "a"
    with Archive(path) as arc:
        arc.add(_job(0))
    proc = _child(_PAUSED_WRITER, str(path))
    try:
        with Archive(path) as arc:
            frames: list = []
            repairers = []
            for step in ("TMP", "DURABLE"):
                assert proc.stdout.readline().strip() == step  # "" if the writer failed
                repairer = threading.Thread(target=lambda: frames.append(_repair(path)))
                repairer.start()
                repairers.append(repairer)
                # Give an unlocked repair time to run now (it then deletes the writer's file);
                # a locked one waits for the commit. Either way the assertions hold after.
                repairer.join(1.0)
                _say(proc)
            assert proc.stdout.readline().strip() == "ACK"
            for repairer in repairers:
                repairer.join()
            assert [f.attrs["removed_orphans"] for f in frames] == [[], []]
            frame = arc.audit()
            assert frame["ok"].all() and len(frame) == 2 and frame.attrs["orphans"] == []
            assert arc.record("job00000001")["result"] == _job(1)["result"]
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
        proc.wait()


_STEPPED_WRITER = '''
arc = Archive(sys.argv[1])
say("READY")
for line in sys.stdin:
    arc.add(job(int(line)))
    say("ACK")
'''


def test_audit_reads_blobs_and_jobs_of_one_commit(tmp_path, monkeypatch):
    """Another process commits a job with a new blob between audit's read of the blob table
    and its read of the jobs: the audit still sees one state (no "blob the index does not
    know" for a healthy job)."""
    path = tmp_path / "a"
    proc = _child(_STEPPED_WRITER, str(path))
    try:
        assert proc.stdout.readline().strip() == "READY"
        with Archive(path) as arc:
            arc.add(_job(0))
            real_blobs = arc.index.blobs
            step = iter(range(1, 100))

            def blobs_then_a_commit():
                found = real_blobs()
                _say(proc, str(next(step)))
                assert proc.stdout.readline().strip() == "ACK"
                return found

            monkeypatch.setattr(arc.index, "blobs", blobs_then_a_commit)
            for verify in (False, True):
                frame = arc.audit(verify=verify)
                assert frame["ok"].all(), frame.loc[~frame["ok"], "problem"].tolist()
            monkeypatch.undo()
            frame = arc.audit()
            assert frame["ok"].all() and len(frame) == 3 and frame.attrs["orphans"] == []
    finally:
        proc.kill()
        proc.wait()


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_repair_keeps_a_renamed_copy_of_a_missing_blob(multi):
    arc, _ = multi
    owners = _blob_jobs(arc)
    lost = sorted(owners)[0]
    backup = arc.path / "blobs" / ("backup-" + lost.split("/")[1])
    os.rename(arc.path / lost, backup)
    ghost = arc.blobs.write([("ghost", {"q": 1}, None)]).path  # a crashed writer's leftover
    frame = arc.audit()
    assert set(frame.loc[~frame["ok"], "job_id"]) == owners[lost]
    rel = f"blobs/{backup.name}"
    assert frame.attrs["orphans"] == sorted([rel, ghost])
    assert "same SHA-256" in frame.attrs["kept_orphans"][rel]
    before = _sha(backup)

    repaired = arc.audit(repair=True)
    assert repaired.attrs["removed_orphans"] == [ghost]  # provably holds none of their data
    assert repaired.attrs["orphans"] == [rel] and list(repaired.attrs["kept_orphans"]) == [rel]
    assert repaired.attrs["summary"]["kept_orphans"] == 1
    assert backup.exists() and _sha(backup) == before
    cli = CliRunner().invoke(cli_main, ["--archive", str(arc.path), "audit", "--repair"])
    assert cli.exit_code == 3 and rel in cli.stderr and "same SHA-256" in cli.stderr, cli.stderr
    os.rename(backup, arc.path / lost)  # what the kept reason says to do
    assert arc.audit()["ok"].all()


def test_repair_keeps_the_file_of_a_deleted_blob_row(multi):
    """Jobs pointing to a blob id the blob table lost: the file holding their payloads stays."""
    arc, _ = multi
    owners = _blob_jobs(arc)
    target = sorted(owners)[1]
    (blob_id,) = [b for b, p, *_ in arc.index.blobs() if p == target]
    _sql(arc.path, "DELETE FROM blobs WHERE id = ?", (blob_id,))
    junk = arc.path / "blobs" / "deadbeef.parquet"
    junk.write_bytes(b"partial")  # unreadable: cannot be shown to hold none of their payloads
    before = _sha(arc.path / target)
    frame = arc.audit(repair=True)
    bad = frame[~frame["ok"]]
    assert set(bad["job_id"]) == owners[target]
    assert bad["problem"].str.contains("does not know").all()
    assert frame.attrs["removed_orphans"] == []
    kept = frame.attrs["kept_orphans"]
    assert set(kept) == {target, "blobs/deadbeef.parquet"}
    assert f"payloads of {len(owners[target])} job(s)" in kept[target]
    assert _sha(arc.path / target) == before and junk.exists()


@pytest.fixture
def pair(tmp_path):
    arc = Archive(tmp_path / "pair")
    arc.add_many([_job(0, ["t"]), _job(1, ["t"])])
    yield arc
    arc.close()


@pytest.mark.parametrize("tamper, expect", [
    ("UPDATE jobs SET blob_row = (SELECT blob_row FROM jobs WHERE job_id = 'job00000001') "
     "WHERE job_id = 'job00000000'", "holds the payloads of job 'job00000001'"),
    ("UPDATE jobs SET blob_row = blob_row + 1 WHERE job_id = 'job00000000'", "not a payload row"),
    ("UPDATE jobs SET doc = X'7b78' WHERE job_id = 'job00000000'", "not valid JSON"),
    ("UPDATE jobs SET doc = '[1]' WHERE job_id = 'job00000000'", "not a JSON object"),
    ("DELETE FROM job_tags WHERE job_id = 'job00000000'", "lacks ['t']"),
    ("INSERT INTO job_tags (tag, job_id) VALUES ('u', 'job00000000')", "has extra ['u']"),
    ("UPDATE jobs SET tags = '{' WHERE job_id = 'job00000000'", "not a JSON list"),
], ids=["other-job-row", "count-row", "bad-doc", "doc-not-object", "tag-rows-missing",
        "tag-row-extra", "tags-not-json"])
def test_verify_finds_index_rows_that_do_not_lead_to_the_job(pair, tamper, expect):
    _sql(pair.path, tamper)
    frame = pair.audit(verify=True).set_index("job_id")
    assert not frame.loc["job00000000", "ok"]
    assert expect in frame.loc["job00000000", "problem"], frame.loc["job00000000", "problem"]
    assert frame.loc["job00000001", "ok"]
    assert frame.attrs["summary"]["problems"] == 1


def test_tags_holding_nul_are_checked_exactly(tmp_path):
    """SQLite's json_each ends a string at an escaped NUL; such tags are legal (stored
    verbatim) and must neither be reported as missing nor escape the check."""
    with Archive(tmp_path / "a") as arc:
        arc.add({"job_id": "n1", "creation_date": "2021-01-01T00:00:00Z", "status": "COMPLETED",
                 "tags": ["\x00", "x\x00y", "plain"]})
        assert arc.audit(verify=True)["ok"].all()
        _sql(arc.path, "DELETE FROM job_tags WHERE tag = ?", ("x\x00y",))
        frame = arc.audit(verify=True)
        assert not frame["ok"][0] and "lacks ['x\\x00y']" in frame["problem"][0]


def test_verify_checks_payload_rows_of_nested_layout_files(pair):
    """Files written before the flat layout (one row a job) are checked too."""
    (_, rel, _, _, _), = pair.index.blobs()
    path = pair.path / rel
    flat = pq.read_table(path)
    payload = flat.filter(flat.column("n_counts").is_valid())
    legacy = pa.table({
        "job_id": payload.column("job_id"), "result": payload.column("result"),
        "qobj": payload.column("qobj"),
        "counts": pa.array([blobs_mod.extract_counts(blobs_mod.loads(r)) for r in
                            payload.column("result").to_pylist()],
                           pa.list_(blobs_mod.LEGACY_COUNT_TYPE))})
    pq.write_table(legacy, path)
    _sql(pair.path, "UPDATE blobs SET sha256 = ?, bytes = ?, rows = ?",
         (_sha(path), path.stat().st_size, legacy.num_rows))
    _sql(pair.path, "UPDATE jobs SET blob_row = CASE job_id WHEN 'job00000000' THEN 0 ELSE 1 END")
    assert pair.audit(verify=True)["ok"].all()
    _sql(pair.path, "UPDATE jobs SET blob_row = 1 WHERE job_id = 'job00000000'")
    frame = pair.audit(verify=True).set_index("job_id")
    assert "holds the payloads of job 'job00000001'" in frame.loc["job00000000", "problem"]


def test_foreign_files_in_the_blob_directory_are_left_alone(multi):
    arc, _ = multi
    (arc.path / "blobs" / ".DS_Store").write_bytes(b"x")
    (arc.path / "blobs" / "notes").mkdir()
    frame = arc.audit()
    assert frame["ok"].all() and frame.attrs["orphans"] == []
    assert frame.attrs["foreign_files"] == ["blobs/.DS_Store", "blobs/notes"]
    repaired = arc.audit(repair=True)
    assert repaired.attrs["removed_orphans"] == [] and repaired["ok"].all()
    assert (arc.path / "blobs" / ".DS_Store").exists() and (arc.path / "blobs" / "notes").is_dir()
