"""Every archive written by an older version has, once upgraded, exactly the schema of a new
archive: the same tables, indexes and their SQL (a migration edited in place instead of
added, or one a version skipped, would leave old archives with another schema than the
code expects). The fixtures are those of tests/data/old_archives and tests/data/upgrade."""

from __future__ import annotations

import sqlite3
import zipfile
from pathlib import Path

import pytest

from jobarchive import Archive

DATA = Path(__file__).parent / "data"
FIXTURES = sorted(p for root in ("old_archives", "upgrade") for p in (DATA / root).glob("*/fixture.zip"))


def schema(path: Path) -> list[tuple[str, str, str]]:
    conn = sqlite3.connect(path / "index.db")
    try:
        return sorted((kind, name, " ".join((sql or "").split()))
                      for kind, name, sql in conn.execute("SELECT type, name, sql FROM sqlite_master"))
    finally:
        conn.close()


def test_there_are_fixtures_of_each_schema_before_the_last():
    assert len(FIXTURES) >= 8


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.parent.name)
def test_an_upgraded_archive_has_the_schema_of_a_new_one(fixture, tmp_path):
    Archive(tmp_path / "new").close()
    with zipfile.ZipFile(fixture) as zf:
        zf.extractall(tmp_path / "old")
    Archive(tmp_path / "old" / "archive", create=False).close()
    assert schema(tmp_path / "old" / "archive") == schema(tmp_path / "new")
