"""Archive.report: what its tables say is true of the archive, also when blobs are lost."""

from __future__ import annotations

from html.parser import HTMLParser

from retag_child import make_jobs


class _Tables(HTMLParser):
    """Each <table> after an <h2> as (heading, rows of cell texts)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._heading = self._cell = None
        self._in_h2 = False
        self._rows: list[list[str]] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "h2":
            self._in_h2, self._heading = True, ""
        elif tag == "table" and self._heading is not None:
            self._rows = self.tables.setdefault(self._heading, [])
        elif tag == "tr" and self._rows is not None:
            self._rows.append([])
        elif tag in ("td", "th") and self._rows is not None:
            self._cell = ""

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False
        elif tag == "table":
            self._rows = None
        elif tag in ("td", "th") and self._cell is not None and self._rows is not None:
            self._rows[-1].append(self._cell.strip())
            self._cell = None

    def handle_data(self, data):
        if self._in_h2:
            self._heading += data
        elif self._cell is not None:
            self._cell += data


def _table(text: str, heading: str) -> dict[str, dict[str, str]]:
    """The report table under ``heading`` as {row label: {column: cell}}."""
    parser = _Tables()
    parser.feed(text)
    rows = parser.tables[heading]
    columns = rows[0][1:]
    return {r[0]: dict(zip(columns, r[1:], strict=False)) for r in rows[1:] if len(r) > 1
            and any(r[1:])}


def test_with_result_counts_only_results_the_archive_still_holds(arc, tmp_path):
    """Jobs whose blob file is lost have no result to read: 'with result' counted them (the
    index's has_result), so a report of an archive that lost half its results said every DONE
    job had one. It now counts readable results and says how many were lost."""
    jobs = make_jobs(24, seed=12)
    arc.add_many(jobs[:12])
    arc.add_many(jobs[12:])
    lost_blob = next(path for _, path, *_ in arc.index.blobs())
    lost = set(arc.audit().query("ok")["job_id"])  # all ok before the loss
    (arc.path / lost_blob).unlink()
    audit = arc.audit()
    lost = lost - set(audit.query("blob_ok")["job_id"])
    assert lost
    frame = arc.query()
    text = arc.report(tmp_path / "r.html").read_text()
    table = _table(text, "Jobs by backend")
    for backend, group in frame.groupby("backend_name"):
        with_result = group["has_result"]
        gone = group["job_id"].isin(lost) & with_result
        row = table[backend]
        assert int(row["with result"]) == int((with_result & ~gone).sum()), (backend, row)
        assert int(row["result lost"]) == int(gone.sum()), (backend, row)


def test_an_intact_archive_has_no_lost_column(arc, tmp_path):
    arc.add_many(make_jobs(10, seed=3))
    text = arc.report(tmp_path / "r.html").read_text()
    table = _table(text, "Jobs by backend")
    frame = arc.query()
    for backend, group in frame.groupby("backend_name"):
        assert int(table[backend]["with result"]) == int(group["has_result"].sum())
        assert "result lost" not in table[backend]


def test_a_damaged_doc_is_reported_not_raised(arc, tmp_path):
    """An index doc edited outside jobarchive (not JSON, or JSON but no object) made the
    report raise from its queue-time pass (JSONDecodeError / AttributeError); the audit it
    then shows names those jobs, and the other jobs keep their durations."""
    import sqlite3

    arc.add_many(make_jobs(8, seed=5))
    ids = sorted(arc.query()["job_id"])
    path = arc.path / "index.db"
    arc.close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE jobs SET doc = ? WHERE job_id = ?", ("{not json", ids[0]))
        conn.execute("UPDATE jobs SET doc = ? WHERE job_id = ?", ("[1, 2]", ids[1]))
    conn.close()
    from jobarchive import Archive

    with Archive(arc.path) as again:
        text = again.report(tmp_path / "r.html").read_text()
    assert "not valid JSON" in text and "not a JSON object" in text
    assert ids[0] in text and ids[1] in text
    assert "queue and run time distributions" in text


def test_jobs_without_a_readable_date_are_counted_not_raised(arc, tmp_path):
    """A creation date edited outside jobarchive reads as NaT; an archive whose jobs all had
    one made the report raise ('NaTType does not support strftime') from the date line and
    the per-month plots."""
    import sqlite3
    import warnings

    from jobarchive import Archive

    arc.add(make_jobs(1, seed=4)[0])
    (job_id,) = arc.query()["job_id"]
    path = arc.path
    arc.close()
    with sqlite3.connect(path / "index.db") as conn:
        conn.execute("UPDATE jobs SET creation_us = 'when?' WHERE job_id = ?", (job_id,))
    conn.close()
    with Archive(path) as again, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # query()'s warning about the value: tested elsewhere
        text = again.report(tmp_path / "r.html").read_text()
    assert "1 jobs." in text and job_id in text and "disagrees" in text
    assert "jobs per month by status" not in text
