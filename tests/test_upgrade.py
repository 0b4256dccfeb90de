"""Archives written by older jobarchive versions open with this one and read back the same.

``tests/data/old_archives/<commit>/fixture.zip`` holds a small archive written by the code
of that commit (``make.py`` beside it wrote each; see the README there). Every test copies a
fixture to ``tmp_path`` and compares the upgraded archive with one that the current code
writes from the same jobs, in the same steps: records key for key (types included), query
frames, counts, history, tag counts; audit must be clean, and writes after the upgrade must
behave as on a new archive. The durability tests interrupt an upgrade (SIGKILL inside each
migration, a full disk, two processes upgrading at once, a reader beside it) and press
Ctrl-C in the middle of a write.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from jobarchive import Archive, ArchiveError, IBMQJob
from jobarchive.store.index import migrations

ROOT = Path(__file__).parent / "data" / "old_archives"
_spec = importlib.util.spec_from_file_location("old_archives_make", ROOT / "make.py")
make = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make)

REVS = sorted(p.name for p in ROOT.iterdir() if (p / make.FIXTURE).is_file())
FIRST = "ebf3bdd"  # the first archive format: every migration runs on it
ALL_MIGRATIONS = [m.name for m in migrations._migrations]
FILTERS = [
    {}, {"share_level": "none"}, {"share_level": ["global", "hub"]}, {"status": "DONE"},
    {"status": ["ERROR", "CANCELLED"]}, {"job_tags": ["vqe", "h2"], "job_tags_operator": "AND"},
    {"job_tags": ["vqe", "retagged", "renamed"]}, {"job_name": "é|renamed"},
    {"backend_name": "ibmq_lima", "run_mode": "fairshare"}, {"experiment_id": "exp-0"},
    {"start_datetime": "2019-01-01T00:00:00Z", "end_datetime": "2021-06-30T00:00:00Z"},
    {"limit": 5, "skip": 2, "descending": False}, {"job_tags": ["calib"], "limit": 3},
]
# Job 15's result holds an int beyond 64 bits. Commit ebf3bdd wrote its JSON without the
# marker later versions add (orjson reads such a text as a float).
BIG_INT_RESULT = {(FIRST, make.jobs()[15]["job_id"])}
# Jobs 16, 21 and 22 hold count keys whose bitstrings versions before da8e7a7 stored
# differently from qiskit's get_counts (0b keys, unpadded binary keys, spaced keys; integral
# float counts got no row): counts() reads such files' histograms from the result JSON.
STALE_COUNT_JOBS = {make.jobs()[n]["job_id"] for n in (16, 21, 22)}


def unpack(rev: str, dest: Path) -> tuple[Path, dict]:
    """Copy a fixture to ``dest``; returns the archive path and what the old code read back."""
    with zipfile.ZipFile(ROOT / rev / make.FIXTURE) as zf:
        zf.extractall(dest)
    return dest / "archive", json.loads((dest / "expected.json").read_text())


def write_steps(arc: Archive, steps: list[str]) -> None:
    """The steps make.py ran, with the current code."""
    for step in steps:
        if step == "jobs":
            arc.add_many(make.jobs())
        elif step == "updates":
            arc.add_many(make.updates())
        elif step == "retag":
            arc.retag(list(make.RETAG_IDS), progress=False, **make.RETAG)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """Archives the current code writes from the same steps, one per list of steps."""
    made: dict[tuple[str, ...], Archive] = {}

    def get(steps: list[str]) -> Archive:
        key = tuple(steps)
        if key not in made:
            arc = Archive(tmp_path_factory.mktemp("fresh") / "a")
            write_steps(arc, steps)
            made[key] = arc
        return made[key]

    yield get
    for arc in made.values():
        arc.close()


def exact(value) -> str:
    """JSON text: equal only if values, types (1 vs 1.0) and key order are equal."""
    return json.dumps(value, ensure_ascii=False)


def events(arc: Archive, job_id: str) -> list[list]:
    return arc.history(job_id)[["kind", "old", "new", "source"]].astype(object).values.tolist()


def assert_same_archive(old: Archive, new: Archive) -> None:
    """Everything a user reads from the two archives is equal."""
    assert len(old) == len(new)
    ids = sorted(new.query(limit=None)["job_id"])
    assert sorted(old.query(limit=None)["job_id"]) == ids
    for job_id in ids:
        assert exact(old.record(job_id)) == exact(new.record(job_id)), job_id
        assert old.get(job_id).to_dict() == new.get(job_id).to_dict(), job_id
        assert events(old, job_id) == events(new, job_id), job_id
    for flt in FILTERS:
        pd.testing.assert_frame_equal(old.query(**flt), new.query(**flt), obj=str(flt))
    pd.testing.assert_frame_equal(old.counts(), new.counts())
    pd.testing.assert_frame_equal(old.counts(ids[::3]), new.counts(ids[::3]))
    assert old.index.tag_counts() == new.index.tag_counts()


def applied(path: Path) -> list[str]:
    import sqlite3

    conn = sqlite3.connect(path / "index.db")
    try:
        return [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY id")]
    finally:
        conn.close()


def test_fixtures_are_there_and_small():
    assert FIRST in REVS and len(REVS) >= 5
    assert sum(f.stat().st_size for f in ROOT.rglob("*") if f.is_file()) < 300_000


@pytest.mark.parametrize("rev", REVS)
def test_an_old_archive_reads_back_as_written(rev, tmp_path, fresh):
    path, expected = unpack(rev, tmp_path)
    assert expected["commit"] == rev
    with Archive(path, create=False) as old:
        assert applied(path) == ALL_MIGRATIONS
        new = fresh(expected["steps"])
        assert len(old) == expected["len"] == 30
        assert_same_archive(old, new)
        # What the old code itself read back is still read back, wherever it read right.
        for job_id, record in expected["records"].items():
            if exact(record) == exact(new.record(job_id)):
                assert exact(old.record(job_id)) == exact(record), job_id
            assert [[k, o, n, s] for k, o, n, s in expected["history"][job_id]] == events(old, job_id)
        # Jobs added once are the normalized record that was added.
        updated = {r["job_id"] for r in make.updates()} | set(make.RETAG_IDS if "retag" in expected["steps"] else ())
        for record in make.jobs():
            if record["job_id"] not in updated:
                assert old.get(record["job_id"]).to_dict() == IBMQJob.from_dict(record).to_dict()


@pytest.mark.parametrize("rev", REVS)
def test_counts_of_an_old_archive_are_its_result_dicts(rev, tmp_path):
    path, _ = unpack(rev, tmp_path)
    with Archive(path, create=False) as old:
        frame = old.counts()
        got = sorted(zip(frame["job_id"], frame["experiment"], frame["key"], frame["count"], strict=True))
        want = []
        for job_id in sorted(set(old.query(limit=None)["job_id"])):
            result = old.record(job_id)["result"]
            for i, exp in enumerate((result or {}).get("results", [])):
                want.extend((job_id, i, key, n) for key, n in exp["data"]["counts"].items())
        assert got == sorted(want) and len(want) > 80


@pytest.mark.parametrize("rev", REVS)
def test_audit_of_an_upgraded_archive_is_clean(rev, tmp_path):
    path, _ = unpack(rev, tmp_path)
    with Archive(path, create=False) as old:
        frame = old.audit(verify=True)
        assert frame["ok"].all(), frame[~frame["ok"]].to_dict("records")
        assert len(frame) == 30 and frame.attrs["orphans"] == []
        assert old.index.integrity() == []
        repaired = old.audit(repair=True)
        assert repaired["ok"].all() and len(old) == 30


def more_writes(arc: Archive) -> None:
    """Updates of old jobs (payloads partly kept from the old blobs), a new job, a stale
    snapshot, local retags."""
    jobs = make.jobs()
    done = [r for r in jobs if r["status"] == "COMPLETED" and r.get("result")]
    queued = next(r for r in jobs if r["status"] == "QUEUED")
    changed = [dict(done[0], tags=["later"], name="later-0", qobj=None, result=None),  # both kept
               dict(done[1], qobj=None, result=dict(done[1]["result"], success=False)),  # qobj kept
               dict(done[2], result=None, qobj=dict(done[2]["qobj"], qobj_id="again")),  # result kept
               dict(queued, status="QUEUED"),  # stale: the job completed meanwhile, it stays so
               dict(jobs[3], status="CANCELLED"),  # failed, then marked cancelled
               dict(jobs[1], job_id="new-after-upgrade", tags=["vqe", "new"])]
    arc.add_many(changed)
    ids = sorted(r["job_id"] for r in jobs)
    arc.retag(ids[::4], replacement_tags=["r1", "vqe"], progress=False)
    arc.retag(ids[1::5], removal_tags=["h2"], additional_tags=["calib"], progress=False)


@pytest.mark.parametrize("rev", REVS)
def test_writes_after_an_upgrade_are_as_on_a_new_archive(rev, tmp_path):
    path, expected = unpack(rev, tmp_path / "old")
    with Archive(path, create=False) as old, Archive(tmp_path / "new") as new:
        write_steps(new, expected["steps"])
        more_writes(old)
        more_writes(new)
        assert_same_archive(old, new)
        assert old.audit()["ok"].all()
        assert len(old) == 31


def test_big_ints_in_results_of_the_first_format_read_back_exactly(tmp_path):
    path, _ = unpack(FIRST, tmp_path)
    (_, job_id), = BIG_INT_RESULT
    with Archive(path, create=False) as old:
        seed = old.record(job_id)["result"]["results"][0]["header"]["seed"]
        assert type(seed) is int and seed == 2 ** 70 + 1


@pytest.mark.parametrize("rev", REVS)
def test_counts_of_old_archives_are_as_qiskit_gives_them(rev, tmp_path, fresh):
    path, expected = unpack(rev, tmp_path)
    jobs = sorted(STALE_COUNT_JOBS)
    with Archive(path, create=False) as old:
        pd.testing.assert_frame_equal(old.counts(jobs), fresh(expected["steps"]).counts(jobs))


def test_big_ints_in_kept_server_fields_of_the_first_format_read_back_exactly(tmp_path):
    """The doc JSON in the index had the same problem; migration m007 rewrites it."""
    path, _ = unpack(FIRST, tmp_path)
    with Archive(path, create=False) as old:
        value = old.record(make.jobs()[13]["job_id"])["big_field"]
        assert type(value) is int and value == -(2 ** 65) - 3
        assert old.audit()["ok"].all()


# --- durability of the upgrade ------------------------------------------------------------

def run_child(code: str, *args: str, timeout: float = 120) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args],
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.splitlines()


KILL_IN_MIGRATION = """
    import os, shutil, signal, sys
    from pathlib import Path
    import jobarchive.store.index as ix
    from jobarchive import Archive
    src, root = Path(sys.argv[1]), Path(sys.argv[2])
    for m in ix.migrations._migrations:
        for where in ("before", "after"):
            dest = root / f"{m.name}-{where}"
            shutil.copytree(src, dest)
            pid = os.fork()
            if pid == 0:  # the upgrader: SIGKILLed inside migration m (before or after its work)
                real = m.fn
                def fn(db, real=real, where=where):
                    if where == "before":
                        os.kill(os.getpid(), signal.SIGKILL)
                    real(db)
                    os.kill(os.getpid(), signal.SIGKILL)  # its work done, not committed
                m.fn = fn
                Archive(dest)
                os._exit(0)
            _, status = os.waitpid(pid, 0)
            print(dest.name, os.waitstatus_to_exitcode(status), flush=True)
"""


def test_an_upgrade_killed_inside_any_migration_loses_nothing(tmp_path, fresh):
    path, expected = unpack(FIRST, tmp_path / "src")
    lines = run_child(KILL_IN_MIGRATION, str(path), str(tmp_path / "k"))
    pending = ALL_MIGRATIONS[1:]  # m001 ran when the fixture was written
    killed = [line.split()[0] for line in lines if line.split()[1] == "-9"]
    assert len(killed) == 2 * len(pending)
    new = fresh(expected["steps"])
    for name in killed:
        before = applied(tmp_path / "k" / name)
        assert before[:1] == ["m001_initial"] and name.rsplit("-", 1)[0] not in before
        with Archive(tmp_path / "k" / name, create=False) as old:
            assert applied(tmp_path / "k" / name) == ALL_MIGRATIONS
            assert_same_archive(old, new)
            assert old.audit()["ok"].all()


DISK_FULL = """
    import json, os, resource, shutil, sys
    from pathlib import Path
    from jobarchive import Archive, ArchiveError
    src, root = Path(sys.argv[1]), Path(sys.argv[2])
    for limit in (10_000, 30_000, 60_000, 90_000, 150_000):
        dest = root / f"full-{limit}"
        shutil.copytree(src, dest)
        pid = os.fork()
        if pid == 0:  # the upgrader, on a disk where no file grows past `limit` bytes
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
            try:
                Archive(dest).close()
                out = None
            except ArchiveError as err:
                out = [type(err).__name__, isinstance(err, OSError), str(err)]
            print(json.dumps([dest.name, out]), flush=True)
            os._exit(0)
        os.waitpid(pid, 0)
"""


def test_a_full_disk_during_an_upgrade_says_so_and_loses_nothing(tmp_path, fresh):
    path, expected = unpack(FIRST, tmp_path / "src")
    results = [json.loads(line) for line in run_child(DISK_FULL, str(path), str(tmp_path / "f"))]
    assert len(results) == 5
    failed = [(name, err) for name, err in results if err is not None]
    assert failed, "no limit made the upgrade fail; lower them"
    for _name, (kind, is_os_error, text) in failed:
        assert (kind, is_os_error) == ("ArchiveWriteError", True), text
        assert "Free disk space" in text
    assert any("upgrading" in text for _, (_, _, text) in failed)  # some failed in a migration
    new = fresh(expected["steps"])
    for name, _ in results:  # with space again, the upgrade completes
        with Archive(tmp_path / "f" / name, create=False) as old:
            assert applied(tmp_path / "f" / name) == ALL_MIGRATIONS
            assert_same_archive(old, new)
            assert old.audit()["ok"].all()


UPGRADER = """
    import json, sys, time
    from pathlib import Path
    from jobarchive import Archive
    path, go = Path(sys.argv[1]), Path(sys.argv[2])
    print("READY", flush=True)
    while not go.exists():
        time.sleep(0.005)
    with Archive(path, create=False) as arc:
        print(json.dumps([len(arc), sorted(arc.query(limit=None)["job_id"])[:3]]), flush=True)
"""


def test_two_processes_upgrading_at_once(tmp_path, fresh):
    path, expected = unpack(FIRST, tmp_path)
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(UPGRADER), str(path), str(tmp_path / "go")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    for proc in procs:
        assert proc.stdout.readline().strip() == "READY"
    (tmp_path / "go").touch()
    outs = [proc.communicate(timeout=120) for proc in procs]
    for proc, (out, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err[-3000:]
        assert json.loads(out)[0] == 30
    assert applied(path) == ALL_MIGRATIONS  # each once
    with Archive(path, create=False) as old:
        assert_same_archive(old, fresh(expected["steps"]))


OLDER_UPGRADER = """
    import sqlite3, sys, threading, time
    from jobarchive import Archive
    path = sys.argv[1]
    # An older version (before 4036b09 none took the directory lock) upgrading at once: it
    # holds the write lock while this process opens the archive ...
    other = sqlite3.connect(path + "/index.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    main = threading.main_thread().ident

    def older_version():
        while True:  # ... until this process waits for that lock in its upgrade ...
            frame = innermost = sys._current_frames().get(main)
            names = set()
            while frame is not None:
                names.add(frame.f_code.co_name)
                frame = frame.f_back
            if "m002_jobs_by_blob" in names or innermost.f_code.co_name == "_apply_migrations":
                break
            time.sleep(0.002)
        # ... and applies m002 first, as that version does.
        other.execute("CREATE INDEX jobs_blob ON jobs(blob_id, blob_row) WHERE blob_id IS NOT NULL")
        other.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
                      "VALUES ('jobarchive', 'm002_jobs_by_blob', 'then')")
        other.execute("COMMIT")

    thread = threading.Thread(target=older_version)
    thread.start()
    try:
        with Archive(path, create=False) as arc:
            print("OK", len(arc))
    finally:
        thread.join()
"""


def test_an_upgrade_beside_an_older_version_upgrading_too(tmp_path, fresh):
    """What is pending is read under the write lock: an older version that applied a
    migration meanwhile made the open fail ("index jobs_blob already exists")."""
    path, expected = unpack(FIRST, tmp_path)
    assert run_child(OLDER_UPGRADER, str(path))[-1] == "OK 30"
    assert applied(path) == ALL_MIGRATIONS
    with Archive(path, create=False) as old:
        assert_same_archive(old, fresh(expected["steps"]))


READER = """
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN")
    print(conn.execute("SELECT count(*), count(share_level) FROM jobs").fetchone(), flush=True)
    sys.stdin.readline()  # holds its read snapshot while the archive is upgraded
    print(conn.execute("SELECT count(*), count(share_level) FROM jobs").fetchone(), flush=True)
    conn.execute("COMMIT")
    print(conn.execute("SELECT count(*), count(share_level) FROM jobs").fetchone(), flush=True)
"""


def test_an_upgrade_beside_a_reader(tmp_path, fresh):
    """A process reading the old archive (in a read transaction) does not block the
    upgrade, keeps its snapshot, and sees the upgraded rows afterwards."""
    path, expected = unpack(FIRST, tmp_path)
    reader = subprocess.Popen([sys.executable, "-c", textwrap.dedent(READER), str(path / "index.db")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = reader.stdout.readline().strip()
    with Archive(path, create=False) as old:
        assert applied(path) == ALL_MIGRATIONS
        assert_same_archive(old, fresh(expected["steps"]))
        out, err = reader.communicate("go\n", timeout=60)
        assert reader.returncode == 0, err
        assert first == out.splitlines()[0] == "(30, 24)"  # its snapshot: 6 jobs had no level
        assert out.splitlines()[1] == "(30, 30)"  # m004 gave every job one
        old.add_many(make.updates())  # and writing goes on
        assert old.audit()["ok"].all()


# --- Ctrl-C in the middle of a write ------------------------------------------------------

CTRL_C = """
    import json, linecache, os, signal, sqlite3, sys, threading, time
    from pathlib import Path
    from jobarchive import Archive
    path = Path(sys.argv[1])
    job = lambda i: {"job_id": f"j{i}", "creation_date": "2021-01-01T00:00:00Z", "status": "COMPLETED",
                     "result": {"results": [{"data": {"counts": {"0x1": i}}}]}}
    arc = Archive(path)
    arc.add(job(0))
    other = sqlite3.connect(path / "index.db", timeout=1, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another writer (a sync in another process, say)
    main = threading.main_thread().ident

    def interrupt():
        while True:  # until the main thread waits for the other writer's lock
            frame = sys._current_frames().get(main)
            if frame is not None and frame.f_code.co_filename.endswith("index.py") \\
                    and "BEGIN IMMEDIATE" in linecache.getline(frame.f_code.co_filename, frame.f_lineno):
                break
            time.sleep(0.005)
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C (Jupyter's "interrupt kernel")
        time.sleep(0.2)
        other.execute("ROLLBACK")  # the other writer finishes

    thread = threading.Thread(target=interrupt)
    thread.start()
    try:
        arc.add(job(1))
        interrupted = False
    except KeyboardInterrupt:
        interrupted = True
    thread.join()
    left_open = arc.index.conn.in_transaction
    arc.add_many([job(2), job(3)])  # returns: acknowledged
    seen = sorted(r[0] for r in other.execute("SELECT job_id FROM jobs"))
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        others_can_write = True
    except sqlite3.OperationalError:
        others_can_write = False
    arc.close()
    with Archive(path) as again:
        print(json.dumps([interrupted, left_open, seen, others_can_write, sorted(again.query()["job_id"]),
                          bool(again.audit()["ok"].all())]))
"""


def test_ctrl_c_while_waiting_for_another_writer_loses_nothing_later(tmp_path):
    """Ctrl-C while add() waits for another process's write lock lands right after BEGIN
    IMMEDIATE got the lock. That transaction must not stay open: later writes joined it and
    were never committed (add_many returned, the jobs were lost at close), and every other
    process was locked out meanwhile."""
    out = json.loads(run_child(CTRL_C, str(tmp_path / "a"))[-1])
    interrupted, left_open, seen, others_can_write, after, audit_ok = out
    assert interrupted
    assert not left_open and others_can_write
    assert seen == ["j0", "j2", "j3"]
    assert after == ["j0", "j2", "j3"] and audit_ok


# --- an archive copied while it is written ------------------------------------------------

def copy_mid_batch(tmp_path: Path, first: list[dict], second: list[dict]) -> Path:
    """``cp -r`` of a live archive that copied blobs/ before ``second`` committed and
    index.db (with its WAL) after: the copy lacks that batch's blob file."""
    import shutil

    with Archive(tmp_path / "src") as src:
        src.add_many(first)
        shutil.copytree(tmp_path / "src" / "blobs", tmp_path / "copy" / "blobs")
        src.add_many(second)  # commits between the two halves of the copy
        for name in ("index.db", "index.db-wal", "index.db-shm"):
            if (tmp_path / "src" / name).exists():
                shutil.copy2(tmp_path / "src" / name, tmp_path / "copy" / name)
    return tmp_path / "copy"


def test_a_copy_taken_while_a_batch_commits_says_what_it_lacks_and_a_rerun_heals_it(tmp_path):
    """The copy opens, audit names exactly the jobs of the missing blob, the others read
    back intact, and adding the batch again (the writer's re-run) heals it."""
    jobs = make.jobs()
    first = jobs[:15]
    second = [r for r in jobs[15:] if r.get("result") is not None and r.get("qobj") is not None]
    with Archive(copy_mid_batch(tmp_path, first, second), create=False) as copy:
        assert len(copy) == len(first) + len(second)
        frame = copy.audit()
        assert set(frame[~frame["ok"]]["job_id"]) == {r["job_id"] for r in second}
        assert frame[~frame["ok"]]["problem"].str.contains("missing").all()
        for record in first:
            assert copy.get(record["job_id"]).to_dict() == IBMQJob.from_dict(record).to_dict()
        copy.add_many(second)
        for record in second:
            assert copy.get(record["job_id"]).to_dict() == IBMQJob.from_dict(record).to_dict()
        assert copy.audit()["ok"].all()
        copy.audit(repair=True)  # the row of the blob that never came is an orphan: removed
        assert copy.audit().attrs["orphans"] == []


def test_a_job_whose_blob_is_missing_can_be_added_again_with_one_payload(tmp_path):
    """A failed job has a qobj and no result. When its blob is missing (a copy taken
    mid-batch, a lost file), adding it again (from the source archive, or the server) must
    write it, not fail the whole batch on the blob that is gone."""
    jobs = make.jobs()
    failed = [r for r in jobs if r.get("qobj") is not None and r.get("result") is None]
    assert failed
    with Archive(copy_mid_batch(tmp_path, jobs[:2], failed), create=False) as copy:
        copy.add_many(failed)
        for record in failed:
            assert copy.get(record["job_id"]).to_dict() == IBMQJob.from_dict(record).to_dict()
        assert copy.audit()["ok"].all()


# --- an archive used across fork() ---------------------------------------------------------

FORKED_WRITERS = """
    import json, multiprocessing as mp, sys, time
    from jobarchive import Archive
    arc = Archive(sys.argv[1])
    job = lambda i: {"job_id": f"j{i}", "creation_date": "2021-01-01T00:00:00Z", "status": "COMPLETED"}
    arc.add(job(0))

    def work(i, started, done, out):
        ids = [1000 * i + k for k in range(10)]
        arc.add_many([job(x) for x in ids])
        out.put(ids)  # acknowledged
        started.set()
        done.wait()  # and more once the parent has closed its archive
        ids = [1000 * i + k for k in range(10, 20)]
        arc.add_many([job(x) for x in ids])
        arc.add(job(1000 * i + 99))
        out.put(ids + [1000 * i + 99])

    ctx = mp.get_context("fork")  # Linux's default: a multiprocessing pool in a notebook
    out, done = ctx.Queue(), ctx.Event()
    children = []
    for i in range(1, 4):
        started = ctx.Event()
        children.append(ctx.Process(target=work, args=(i, started, done, out)))
        children[-1].start()
        started.wait()
    arc.close()  # the parent is done with it (or its script ends) while the children go on
    done.set()
    acked = sorted(f"j{x}" for _ in range(2 * len(children)) for x in out.get(timeout=60))
    for child in children:
        child.join()
    with Archive(sys.argv[1]) as again:
        print(json.dumps([acked, sorted(again.query(limit=None)["job_id"]), again.index.integrity()]))
"""


def test_writes_of_forked_children_survive_the_parent_closing_the_archive(tmp_path):
    """Children forked from a process with an open archive inherited its SQLite connection.
    SQLite forbids using a connection across fork(): the parent's close, believing itself
    the last user, checkpointed and deleted the WAL, and the children's acknowledged writes
    went to the deleted file (230 of 300 jobs lost, silently). Each process gets its own."""
    acked, have, integrity = json.loads(run_child(FORKED_WRITERS, str(tmp_path / "a"))[-1])
    assert len(acked) == 63 and integrity == []
    assert sorted(set(acked) - set(have)) == []


def test_a_writer_waits_busy_timeout_for_a_stuck_lock_once(tmp_path):
    """``busy_timeout`` is how long a write waits for another writer's lock before
    ArchiveLockedError; the wait was retried 50 times (25 minutes at the default 30 s)."""
    import sqlite3

    from jobarchive import ArchiveLockedError

    with Archive(tmp_path / "a", busy_timeout=0.05) as arc:
        other = sqlite3.connect(tmp_path / "a" / "index.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # a writer that does not finish (paused, stuck)
        begins = []
        arc.index.conn.set_trace_callback(lambda sql: begins.append(sql) if sql.startswith("BEGIN") else None)
        with pytest.raises(ArchiveLockedError, match="busy_timeout"):
            arc.add({"job_id": "x", "creation_date": "2021-01-01T00:00:00Z", "status": "COMPLETED"})
        assert begins == ["BEGIN IMMEDIATE"]
        other.execute("ROLLBACK")
        other.close()
        arc.index.conn.set_trace_callback(None)
        arc.add({"job_id": "x", "creation_date": "2021-01-01T00:00:00Z", "status": "COMPLETED"})
        assert len(arc) == 1


def test_an_upgrade_beside_a_stuck_writer_gives_up_after_busy_timeout(tmp_path, monkeypatch):
    """Opening an old archive while another writer holds its lock waits ``busy_timeout`` once,
    then says it is busy; the wait was retried 50 times (25 minutes at the default 30 s)."""
    import sqlite3

    import jobarchive.store.index as index_mod

    path, _ = unpack(FIRST, tmp_path)
    sleeps = []
    monkeypatch.setattr(index_mod.time, "sleep", sleeps.append)
    other = sqlite3.connect(path / "index.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # a writer that does not finish (paused, stuck)
    try:
        with pytest.raises(ArchiveError, match="locked|busy"):
            Archive(path, create=False, busy_timeout=0.05)
        assert sleeps == []  # SQLite's busy handler waited busy_timeout; no retries after it
    finally:
        other.execute("ROLLBACK")
        other.close()
    with Archive(path, create=False) as arc:
        assert applied(path) == ALL_MIGRATIONS and len(arc) == 30
