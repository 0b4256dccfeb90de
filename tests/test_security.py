"""Security pass on the store: paths, SQL values, schema versions."""

from __future__ import annotations

import os
import sqlite3

import pytest

from jobarchive import (
    Archive,
    ArchiveError,
    BlobIntegrityError,
    IBMQError,
    JobValidationError,
    SchemaVersionError,
)


def _job(job_id="abc123", **extra):
    return {"job_id": job_id, "creation_date": "2021-05-04T11:34:58.965Z", "status": "COMPLETED",
            **extra}


@pytest.mark.parametrize("job_id", ["../etc/passwd", "a/b", "..", "a\x00b", "/abs", ".hidden..x",
                                    "x" * 200, ""])
def test_job_ids_that_could_steer_paths_are_refused(tmp_path, job_id):
    with Archive(tmp_path / "a") as arc:
        with pytest.raises(JobValidationError) as err:
            arc.add(_job(job_id, result={"results": []}))
        assert "job_id" in str(err.value)
        assert len(arc) == 0
        assert not list((tmp_path / "a" / "blobs").iterdir())


def test_backend_names_never_become_paths(tmp_path):
    with Archive(tmp_path / "a") as arc:
        arc.add(_job(backend_name="../../escape", result={"results": []}))
        files = {p.relative_to(tmp_path / "a").as_posix() for p in (tmp_path / "a").rglob("*")}
        assert all("escape" not in f for f in files)
        assert not (tmp_path / "escape").exists()


def test_sql_metacharacters_are_stored_verbatim(tmp_path):
    evil = "x'; DROP TABLE jobs; --"
    with Archive(tmp_path / "a") as arc:
        arc.add(_job(name=evil, tags=[evil, "%", "_", '"q"']))
        assert len(arc) == 1
        assert arc.get("abc123").name() == evil
        assert list(arc.query(job_tags=[evil])["job_id"]) == ["abc123"]
        assert list(arc.query(job_tags=["%"])["job_id"]) == ["abc123"]
        assert arc.query(job_tags=["x"]).empty  # LIKE-style wildcards do not apply


def test_tampered_blob_path_cannot_read_outside_the_archive(tmp_path):
    secret = tmp_path / "secret.parquet"
    secret.write_bytes(b"not yours")
    with Archive(tmp_path / "a") as arc:
        arc.add(_job(result={"results": []}))
        arc.index.conn.execute("UPDATE blobs SET path = ?", ("../secret.parquet",))
        with pytest.raises(BlobIntegrityError):
            arc.get("abc123")
        frame = arc.audit()
        assert not frame["ok"].any()
        assert "outside" in frame["problem"][0]


def test_index_from_a_newer_schema_is_refused(tmp_path):
    Archive(tmp_path / "a").close()
    conn = sqlite3.connect(tmp_path / "a" / "index.db")
    conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
                 "VALUES ('jobarchive', 'm999_from_the_future', '2030-01-01')")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaVersionError, match="newer jobarchive.*[Uu]pgrade"):
        Archive(tmp_path / "a")


def test_a_file_that_is_not_our_index_is_refused_and_left_unchanged(tmp_path):
    garbage, other = tmp_path / "garbage", tmp_path / "other"
    garbage.mkdir()
    (garbage / "index.db").write_bytes(bytes(range(256)) * 20)
    other.mkdir()
    conn = sqlite3.connect(other / "index.db")
    conn.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY, title TEXT)")
    conn.commit()
    conn.close()
    before = {p: (p / "index.db").read_bytes() for p in (garbage, other)}
    with pytest.raises(ArchiveError, match="not a jobarchive index"):
        Archive(garbage)
    with pytest.raises(ArchiveError, match="another program.*left unchanged"):
        Archive(other)
    for folder, data in before.items():
        assert sorted(p.name for p in folder.iterdir()) == ["index.db"]  # no blobs/, no -wal
        assert (folder / "index.db").read_bytes() == data


def test_processes_creating_one_archive_at_once_all_succeed(tmp_path):
    """Creation (checks, WAL, migrations) is serialized: a process that finds another's
    half-applied migrations waits instead of failing on "table already exists"."""
    for attempt in range(8):
        path = tmp_path / f"a{attempt}"
        children = []
        for i in range(5):
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child reports by its exit code
                code = 1
                try:
                    with Archive(path) as arc:
                        arc.add(_job(f"j{i}"))
                    code = 0
                finally:
                    os._exit(code)
            children.append(pid)
        assert [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children] == [0] * 5
        with Archive(path) as arc:
            assert len(arc) == 5


# --- a live server: the token, and server-sent ids and names -----------------------------


def _every_file_bytes(root):
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_the_token_never_reaches_the_archive_logs_errors_reprs_or_report(tmp_path, caplog):
    import logging

    import jobarchive

    emulator = pytest.importorskip("jobarchive.emulator")
    caplog.set_level(logging.DEBUG)
    path = tmp_path / "a"
    texts: list[str] = []
    with emulator.Emulator(seed_jobs=30, seed_active=4, seed=3, time_scale=600.0) as emu:
        provider = jobarchive.connect(emu.url, emu.token, max_retries=1, backoff_factor=0.0)
        secrets = [emu.token, provider.api_client._token.value]
        with Archive(path) as arc:
            emu.set_faults({"rate": 0.3, "kinds": ["500", "drop", "malformed"], "seed": 2})
            for _ in range(3):  # failures land in reports, the retry journal and logs
                try:
                    report = arc.sync(provider, progress=False, workers=2)
                    texts += [str(report), repr(report), *report.failed.values()]
                except IBMQError as err:
                    texts += [str(err), repr(err), str(err.__cause__)]
            emu.set_faults(None)
            arc.sync(provider, progress=False, full=True)
            ids = list(arc.query()["job_id"])
            frame = arc.retag(ids, additional_tags=["sec"], provider=provider, progress=False)
            texts += [frame.to_string()]
            ghost = dict(arc.record(ids[0]), job_id="f" * 24, result=None, qobj=None)
            arc.add(ghost)  # unknown to the server: its refusal text is checked too
            frame = arc.retag([ghost["job_id"]], additional_tags=["x"], provider=provider,
                              progress=False)
            texts += list(frame["error"].dropna())
            arc.report(path / "report.html", reproduce=True)
            texts += [repr(arc), repr(provider), repr(provider.api_client), arc.audit().to_string()]
            for job_id in ids[:5]:
                job = arc.get(job_id)
                texts += [repr(job), str(arc.history(job_id).to_dict("records"))]
        texts += [r.getMessage() for r in caplog.records] + [caplog.text]
        files = _every_file_bytes(path)
        assert any(p.name == "report.html" for p in files)
        for secret in secrets:
            assert not any(secret in t for t in texts), secret[:4]
            assert not any(secret.encode() in data for data in files.values()), \
                [str(p) for p, d in files.items() if secret.encode() in d]


def test_server_sent_ids_and_backend_names_never_steer_paths(tmp_path):
    """A server (here a corrupting proxy in front of the emulator) that sends path-like job
    ids and backend names: the jobs are refused or stored, never written outside."""
    import jobarchive

    emulator = pytest.importorskip("jobarchive.emulator")
    from test_server_fuzz import CorruptingProxy

    root = tmp_path / "root"
    root.mkdir()
    with emulator.Emulator(seed_jobs=12, seed=4) as emu:
        proxy = CorruptingProxy(emu.url)
        try:
            provider = jobarchive.connect(proxy.url, emu.token, max_retries=0)
            for n, (field, value) in enumerate([
                    ("id", "../../escape"), ("id", "/tmp/escape"), ("id", "..\\escape"),
                    ("backend", {"id": "x", "name": "../../escape"}),
                    ("backend", {"id": "x", "name": "/escape"})]):
                proxy.plan = {"endpoint": "list_full", "how": "field", "field": field,
                              "value": value, "n": 4, "seed": n}
                with Archive(root / f"a{n}") as arc:
                    try:
                        report = arc.sync(provider, progress=False)
                    except IBMQError:
                        pass
                    else:
                        assert all("escape" not in j for j in arc.query()["job_id"])
                        assert report.failed or field == "backend"
                    assert arc.audit()["ok"].all()
            proxy.plan = None
        finally:
            proxy.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["root"]
    assert all("escape" not in p.name for p in tmp_path.rglob("*"))
    assert not (tmp_path.parent / "escape").exists() and not (tmp_path / "escape").exists()

