"""Security pass on the store: paths, SQL values, schema versions."""

from __future__ import annotations

import sqlite3

import pytest

from jobarchive import Archive, BlobIntegrityError, JobValidationError, SchemaVersionError


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
