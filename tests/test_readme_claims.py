"""README.md says only what is true: the commands and options it names exist, the query
columns and dtypes are the ones it lists, the files of its layout exist, the demo writes
where it says, and the benchmark figures it cites are those of bench/README.md. Cheap checks
(no emulator, no sync); the README's code itself runs in tests/test_cli_readme.py."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from jobarchive import Archive
from jobarchive import demo as demo_module
from jobarchive.cli import cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BENCH = (ROOT / "bench" / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    return README.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def _options() -> set[str]:
    names = {opt for p in cli.params for opt in p.opts + p.secondary_opts}
    for cmd in cli.commands.values():
        names |= {opt for p in cmd.params for opt in p.opts + p.secondary_opts}
    return names


def test_the_first_lines_are_the_two_commands():
    first = README.splitlines()[:2]
    assert first[0].strip().endswith(".venv/bin/jobarchive demo"), first
    assert first[1].strip().endswith(".venv/bin/python -m pytest -q"), first
    assert "'.[test]'" in first[1]


def test_the_commands_listed_are_the_commands():
    listed = re.search(r"lists the\s+commands: `([^`]*)`", README).group(1)
    assert sorted(c.strip() for c in listed.split(",")) == sorted(cli.commands)


def test_every_option_the_readme_names_exists():
    """Every `--option` the README mentions is an option of some command (or the group)."""
    named = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", README))
    named -= {"--help", "--runslow"}  # click's own; pytest's (tests/conftest.py)
    assert len(named) > 20, named
    assert named - _options() == set(), sorted(named - _options())


def test_cli_block_options_belong_to_their_commands():
    block = re.search(r"```\n(.*?)```", _section("The command line"), re.S).group(1)
    for line in block.splitlines():
        args = line.split("#", 1)[0].split()
        if not args:
            continue
        command = cli.commands[args[3]]
        own = {opt for p in command.params for opt in p.opts + p.secondary_opts}
        for arg in args[4:]:
            if arg.startswith("--"):
                assert arg in own, (line, arg)


def test_query_columns_and_dtypes_are_as_documented(tmp_path):
    text = README.split("Columns:", 1)[1].split("Empty results", 1)[0]
    documented = [c.strip() for part in re.findall(r"`([^`]*)`", text) for c in part.split(",")]
    with Archive(tmp_path / "a.jobarchive") as arc:
        frame = arc.query()
        assert list(frame.columns) == documented
        assert isinstance(frame["creation_date"].dtype, pd.DatetimeTZDtype)
        assert str(frame["creation_date"].dt.tz) == "UTC"
        frames = [frame, arc.counts([]), arc.audit()]
    for f in frames:  # "every string column ... is pandas' string dtype"
        for name in ("job_id", "name", "backend_name", "status", "bitstring", "problem"):
            if name in f.columns:
                assert f[name].dtype == "string", (name, f[name].dtype)


def test_the_layout_names_files_that_exist():
    block = re.search(r"```\n(.*?)```", _section("Layout"), re.S).group(1)
    for line in block.splitlines():
        path = line.split()[0] if line and not line.startswith(" ") else None
        if path:
            assert (ROOT / path).exists(), path
    emulator = ROOT / "jobarchive" / "emulator"
    for name in re.findall(r"(\w+\.py)", block.split("jobarchive/emulator/", 1)[1]):
        assert (emulator / name).exists(), name
    for name in ("job.schema.json", "index.md", "parquet.md"):
        assert (ROOT / "schemas" / name).exists()


def test_the_demo_writes_where_the_readme_says():
    assert "`./demo.jobarchive`" in README and "`./demo-report.html`" in README
    assert demo_module.DEFAULT_ARCHIVE == "demo.jobarchive"
    gitignore = (ROOT / ".gitignore").read_text()
    assert "*.jobarchive/" in gitignore and "demo-report.html" in gitignore


def _numbers(text: str) -> list[float]:
    return [float(n) for n in re.findall(r"\d+(?:\.\d+)?", text.replace(",", ""))]


def test_the_sync_table_is_the_one_measured():
    """The README's sync table repeats bench/README.md's (rounded): the same figures."""
    ours = [line for line in _section("Sync").splitlines() if re.match(r"\| \d+ min", line)]
    theirs = [line for line in BENCH.split("### `bench/sync.py`", 1)[1].splitlines()
              if re.match(r"\| [\d,]+ s \|", line)]
    assert len(ours) == len(theirs) == 3
    for a, b in zip(ours, theirs, strict=True):
        mine, measured = _numbers(a)[1:], _numbers(b)[1:]  # the gap is given in min vs s
        assert len(mine) == len(measured), (a, b)
        for x, y in zip(mine, measured, strict=True):
            assert x == pytest.approx(y, abs=0.051), (a, b)


def test_cited_ratios_are_in_bench_readme():
    """Each ratio the README's summary cites (0.60x, 17-21x, 12.1-13.4x, ...) is a figure of
    bench/README.md, to the precision the README gives."""
    text = _section("Benchmarks")
    measured = _numbers(BENCH)
    cited = re.findall(r"(\d+(?:\.\d+)?)(?:-(\d+(?:\.\d+)?))?(?:x|%)", text)
    assert len(cited) >= 10, cited
    for pair in cited:
        for value in filter(None, pair):
            places = len(value.split(".")[1]) if "." in value else 0
            assert any(round(m, places) == float(value) for m in measured), value


def test_every_example_is_described():
    named = set(re.findall(r"`(\w+\.py)`", _section("Examples")))
    assert named == {p.name for p in (ROOT / "examples").glob("*.py") if not p.name.startswith("_")}


def test_the_demo_slip_hint_does_not_offer_the_variable_demo_ignores():
    from click.testing import CliRunner

    res = CliRunner().invoke(cli, ["demo", "--archive", "x.jobarchive"])
    assert res.exit_code == 2
    assert "jobarchive --archive PATH demo" in res.stderr
    assert "JOBARCHIVE_PATH" not in res.stderr


def test_every_file_the_readme_names_exists():
    names = set(re.findall(r"(?<![\w/.])((?:[\w-]+/)*[\w-]+\.(?:py|md|json))\b", README))
    places = [ROOT, ROOT / "tests", ROOT / "examples", ROOT / "jobarchive",
              ROOT / "jobarchive" / "emulator", ROOT / "bench", ROOT / "schemas"]
    missing = [n for n in names - {"examples/NAME.py"}
               if not any((p / n).exists() for p in places)]
    assert len(names) > 20 and missing == [], missing


def test_adding_jobs_you_hold_works_as_described(tmp_path):
    """README: add/add_many take IBMQJobs, to_dict() dicts and from_server(doc); upstream's
    job objects (to_dict() == {}) are refused with a message saying so."""
    from jobarchive import IBMQJob
    from jobarchive.exceptions import JobValidationError

    record = {"job_id": "5f8e2a1b9c0d4e0012ab34cd", "creation_date": "2020-10-20T14:03:11.512Z",
              "status": "COMPLETED", "backend_name": "ibmq_athens", "tags": ["exp1"]}
    doc = {"id": "5f8e2a1b9c0d4e0012ab34ce", "creationDate": "2020-10-21T09:00:00.000Z",
           "status": "RUNNING", "backend": {"name": "ibmq_lima"}, "kind": "q-object-external-storage"}

    class Upstream:
        def to_dict(self):
            return {}

    with Archive(tmp_path / "a.jobarchive") as arc:
        assert arc.add(record) == record["job_id"] and record["job_id"] in arc
        assert arc.add_many([IBMQJob.from_server(doc), IBMQJob.from_dict(record)]) == 2
        assert len(arc) == 2 and arc.get(doc["id"]).backend().name() == "ibmq_lima"
        with pytest.raises(JobValidationError, match=r"to_dict\(\) returned \{\}"):
            arc.add(Upstream())
