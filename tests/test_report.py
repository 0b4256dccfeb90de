"""write_report / Archive.report: a self-contained HTML file with the plots, never a token."""

from __future__ import annotations

import re

import pytest
from retag_child import make_jobs

from jobarchive import Archive

_IMG = re.compile(r'<img alt="([^"]+)" src="data:image/png;base64,([A-Za-z0-9+/=]+)">')


@pytest.fixture
def filled(arc):
    arc.add_many(make_jobs(60, seed=6))
    return arc


def test_report_has_plots_and_tables(filled, tmp_path):
    path = filled.report(tmp_path / "out" / "report.html")
    assert path.exists() and path.name == "report.html"
    text = path.read_text()
    assert text.startswith("<!doctype html>") and text.rstrip().endswith("</html>")
    images = dict(_IMG.findall(text))
    assert {"jobs per month by backend", "jobs per month by status",
            "queue and run time distributions"} <= set(images)
    assert all(b64.startswith("iVBORw0KGgo") for b64 in images.values())  # PNG magic
    assert "fidelity distribution" not in images  # nothing reproduced
    for heading in ("Jobs by status", "Jobs by backend", "Jobs per month", "Queue and run times",
                    "Audit"):
        assert f"<h2>{heading}</h2>" in text
    assert "ibmq_athens" in text and "No problems found." in text
    # self-contained: no external resources
    assert not re.search(r'(src|href)="(?!data:)', text)


def test_report_with_reproduction(filled, tmp_path):
    path = filled.report(tmp_path, reproduce=True)
    assert path == (tmp_path / "report.html").resolve()
    text = path.read_text()
    assert "fidelity distribution" in dict(_IMG.findall(text))
    assert "<h2>Reproducibility</h2>" in text
    # an audit frame can be passed instead
    frame = filled.audit(reproduce=True, sample=5)
    text = filled.report(tmp_path / "b.html", audit=frame).read_text()
    assert "fidelity distribution" in dict(_IMG.findall(text))


def test_report_lists_problems(filled, tmp_path):
    _, blob, *_ = filled.index.blobs()[0]
    (filled.path / blob).unlink()
    text = filled.report(tmp_path / "r.html").read_text()
    assert "jobs with problems" in text and "is missing" in text


def test_empty_archive_report(tmp_path):
    with Archive(tmp_path / "empty.jobarchive") as arc:
        text = arc.report(tmp_path / "e.html").read_text()
    assert "holds no jobs" in text and "<img" not in text


def test_token_never_in_report(filled, tmp_path, monkeypatch):
    secret = "s3cr3t-token-value-0123456789abcdef"
    monkeypatch.setenv("JOBARCHIVE_TOKEN", secret)
    job = make_jobs(1, seed=99)[0]
    job["name"] = f"leaky {secret}"
    job["tags"] = [secret]
    filled.add(job)
    text = filled.report(tmp_path / "t.html").read_text()
    assert secret not in text
    other = "another-secret-value-42"
    job["name"] = other
    filled.add(job)
    assert other not in filled.report(tmp_path / "u.html", redact=[other]).read_text()


def test_report_of_a_synced_archive_never_holds_the_token(tmp_path):
    import jobarchive
    from jobarchive.emulator import Emulator

    with Emulator(seed_jobs=30, seed=2) as emu, \
            Archive(tmp_path / "synced.jobarchive") as arc:
        provider = jobarchive.connect(emu.url, emu.token)
        arc.sync(provider, progress=False)
        client = provider.api_client
        secrets = {emu.token} | {str(v) for k, v in vars(client).items()
                                 if "token" in k.lower() and isinstance(v, str) and v}
        text = arc.report(tmp_path / "synced.html", reproduce=True).read_text()
    assert "<h2>Reproducibility</h2>" in text
    for secret in secrets:
        assert secret not in text


def _backend_table(text: str) -> dict[str, dict[str, str]]:
    """The "Jobs by backend" table as {backend: {column: cell text}}."""
    start = text.index("<h2>Jobs by backend</h2>")
    chunk = text[start:text.index("</table>", start)]
    head = [re.sub("<[^>]+>", "", c).strip()
            for c in re.findall(r"<th[^>]*>.*?</th>", chunk.split("</tr>")[0], re.S)][1:]
    rows = {}
    for tr in re.findall(r"<tr>(.*?)</tr>", chunk.split("<tbody>")[1], re.S):
        cells = [re.sub("<[^>]+>", "", c).strip() for c in re.findall(r"<t[hd][^>]*>.*?</t[hd]>", tr, re.S)]
        rows[cells[0]] = dict(zip(head, cells[1:], strict=True))
    return rows


def test_success_rate_counts_only_finished_jobs(arc, tmp_path):
    """Done / finished (DONE + ERROR + CANCELLED), as examples/historical_analysis.py: jobs
    still queued or running have no outcome yet."""
    statuses = {"ibmq_athens": ["COMPLETED"] + ["QUEUED"] * 3,
                "ibmq_lima": ["COMPLETED", "ERROR_RUNNING_JOB", "CANCELLED", "CANCELLED",
                              "RUNNING", "RUNNING", "VALIDATING"],
                "ibmq_quito": ["QUEUED", "RUNNING"]}
    arc.add_many([{"job_id": f"{backend}-{i}", "creation_date": f"2021-01-0{i + 1}T00:00:00Z",
                   "status": status, "backend_name": backend}
                  for backend, values in statuses.items() for i, status in enumerate(values)])
    text = arc.report(tmp_path / "rate.html").read_text()
    rate = "success rate (done / finished)"
    table = _backend_table(text)
    assert table["ibmq_athens"][rate] == "1"       # was 0.25: 1 done of 4 jobs
    assert table["ibmq_lima"][rate] == "0.25"      # 1 done of 4 finished (7 jobs)
    assert table["ibmq_lima"]["cancelled"] == "2" and table["ibmq_lima"]["error"] == "1"
    assert table["ibmq_quito"][rate] == ""         # nothing finished yet: no rate
    assert "done / finished, finished = DONE + ERROR + CANCELLED" in text


def test_report_shows_the_reproducibility_findings(arc, tmp_path):
    """A DONE job without its qobj and a job without a recorded client are what a
    reproducibility audit asks about: the report only said "No problems found." (they are
    not storage problems) and listed the reproduction rows as None when nothing was re-run."""
    jobs = make_jobs(12, seed=2)
    done = [j for j in jobs if j["status"] == "COMPLETED"]
    no_qobj, no_client = dict(done[0]), dict(done[1])
    no_qobj.pop("qobj")
    no_client["client_info"] = None
    no_qobj["job_id"], no_client["job_id"] = "noqobj" + "0" * 18, "noclient" + "0" * 16
    arc.add_many([*jobs, no_qobj, no_client])
    text = arc.report(tmp_path / "r.html").read_text()
    assert "No problems found." in text
    findings = text.split("<h3>Reproducibility findings</h3>", 1)[1]
    assert "2 jobs have findings" in findings, findings
    assert "DONE without qobj" in findings and "client version not recorded" in findings
    assert no_qobj["job_id"] in findings and no_client["job_id"] in findings
    audit = text.split("<h2>Audit</h2>", 1)[1].split("</table>", 1)[0]
    assert "None" not in audit and "threshold" not in audit
