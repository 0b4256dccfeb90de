"""The jobarchive command line on real archives (CliRunner and the console script)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import hypothesis.strategies as st
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings

from jobarchive import Archive
from jobarchive.cli import cli, resolve_credentials
from jobarchive.emulator import Emulator

COMMANDS = ["init", "sync", "ls", "show", "counts", "retag", "audit", "report", "export",
            "emulator", "demo"]
READ_COMMANDS = [["ls"], ["show", "job0000"], ["counts", "job0000"], ["audit"],
                 ["report", "r.html"], ["export", "out"], ["retag", "--all", "--add", "x"]]


def _records(n: int = 24) -> list[dict]:
    statuses = ["COMPLETED", "ERROR_RUNNING_JOB", "CANCELLED", "RUNNING"]
    out = []
    for i in range(n):
        status = statuses[i % 4]
        rec = {"job_id": f"job{i:04d}", "creation_date": f"2021-0{1 + i % 9}-1{i % 10}T10:00:00Z",
               "status": status, "name": f"bell-{i}" if i % 2 else f"ghz-{i}",
               "tags": ["a", "b"][: i % 3], "backend_name": ["ibmq_athens", "ibmq_lima"][i % 2],
               "share_level": ["none", "hub"][i % 2], "run_mode": "fairshare"}
        if status == "COMPLETED":
            rec["result"] = {"results": [{"shots": 100, "success": True,
                                          "header": {"creg_sizes": [["c", 2]], "memory_slots": 2},
                                          "data": {"counts": {"0x0": 40 + i, "0x3": 60 - i}}}]}
            rec["qobj"] = {"qobj_id": f"q{i}", "experiments": [{}]}
        out.append(rec)
    return out


@pytest.fixture
def arc_path(tmp_path: Path) -> Path:
    path = tmp_path / "lab.jobarchive"
    with Archive(path) as arc:
        arc.add_many(_records())
    return path


def run(*args: str, archive: Path | None = None, env: dict | None = None):
    argv = (["--archive", str(archive)] if archive is not None else []) + list(args)
    result = CliRunner().invoke(cli, argv, env=env, catch_exceptions=True)
    return result


def assert_one_line_error(result, code=(1, 2)) -> str:
    assert result.exit_code in code, (result.exit_code, result.stdout, result.stderr)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    err = result.stderr.strip()
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in err.splitlines() if line.strip()]
    # click prints "Usage: ..." and a hint before usage errors; the error itself is one line.
    assert lines and lines[-1].startswith("Error:"), err
    return lines[-1]


# --- help -----------------------------------------------------------------------------------


def test_help_lists_every_command_and_each_has_an_example():
    result = run("--help")
    assert result.exit_code == 0
    for name in COMMANDS:
        assert f"  {name} " in result.stdout, name
    for name in COMMANDS:
        sub = run(name, "--help")
        assert sub.exit_code == 0, (name, sub.stderr)
        assert "Example" in sub.stdout and "jobarchive" in sub.stdout.split("Example", 1)[1], name


# --- init / ls -------------------------------------------------------------------------------


def test_init_creates_once(tmp_path):
    target = tmp_path / "new.jobarchive"
    result = run("init", str(target))
    assert result.exit_code == 0 and "created" in result.stdout
    assert (target / "index.db").exists()
    again = run("--archive", str(target), "init")
    assert again.exit_code == 0 and "already an archive (0 jobs)" in again.stdout


def test_ls_table_is_aligned_and_filters_apply(arc_path):
    result = run("ls", archive=arc_path)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["job_id", "creation_date", "backend_name", "status", "name", "tags"]
    assert len(lines) == 25
    starts = {line.index("ibmq_") for line in lines[1:]}
    assert starts == {lines[0].index("backend_name")}

    def ids(*args):
        res = run("ls", "--format", "json", *args, archive=arc_path)
        assert res.exit_code == 0, res.stderr
        return [r["job_id"] for r in json.loads(res.stdout)]

    with Archive(arc_path) as arc:
        def want(**kw):
            return arc.query(**kw)["job_id"].tolist()

        assert ids("--status", "DONE") == want(status="DONE")
        assert ids("--status", "DONE", "--status", "ERROR") == want(status=["DONE", "ERROR"])
        assert ids("--tag", "a", "--tag", "b", "--tags-and") == want(job_tags=["a", "b"],
                                                                       job_tags_operator="AND")
        assert ids("--tag", "b") == want(job_tags=["b"])
        assert ids("--backend", "ibmq_lima") == want(backend_name="ibmq_lima")
        assert ids("--share-level", "hub") == want(share_level="hub")
        assert ids("--run-mode", "fairshare") == want(run_mode="fairshare")
        assert ids("--name", "^bell-1") == want(job_name="^bell-1")
        assert ids("--since", "2021-03-01T00:00:00Z", "--until", "2021-05-31T00:00:00Z") == want(
            start_datetime="2021-03-01T00:00:00Z", end_datetime="2021-05-31T00:00:00Z")
        assert ids("--limit", "5", "--skip", "2", "--ascending") == want(limit=5, skip=2,
                                                                          descending=False)
    assert len(ids("--status", "DONE")) == 6


def test_ls_formats_read_back_with_pandas(arc_path, tmp_path):
    with Archive(arc_path) as arc:
        want = arc.query()
    csv = run("ls", "--format", "csv", archive=arc_path)
    assert csv.exit_code == 0
    frame = pd.read_csv(io.StringIO(csv.stdout))
    assert frame["job_id"].tolist() == want["job_id"].tolist()
    assert [json.loads(t) for t in frame["tags"]] == want["tags"].tolist()
    assert (pd.to_datetime(frame["creation_date"], utc=True) == want["creation_date"]).all()

    js = run("ls", "--format", "json", archive=arc_path)
    frame = pd.read_json(io.StringIO(js.stdout))
    assert frame["job_id"].tolist() == want["job_id"].tolist()
    assert frame["tags"].tolist() == want["tags"].tolist()

    out = tmp_path / "jobs.parquet"
    pq = run("ls", "--format", "parquet", "--output", str(out), archive=arc_path)
    assert pq.exit_code == 0, pq.stderr
    frame = pd.read_parquet(out)
    assert frame["job_id"].tolist() == want["job_id"].tolist()
    assert [list(t) for t in frame["tags"]] == want["tags"].tolist()
    assert (frame["creation_date"] == want["creation_date"]).all()

    cols = run("ls", "--columns", "job_id,shots", "--status", "DONE", archive=arc_path)
    assert cols.stdout.splitlines()[0].split() == ["job_id", "shots"]
    assert assert_one_line_error(run("ls", "--format", "parquet", archive=arc_path))
    assert "nope" in assert_one_line_error(run("ls", "--columns", "nope", archive=arc_path))


def test_ls_with_no_match_says_so(arc_path):
    result = run("ls", "--backend", "ibmq_nowhere", archive=arc_path)
    assert result.exit_code == 0 and result.stdout == "" and "no jobs match" in result.stderr
    js = run("ls", "--backend", "ibmq_nowhere", "--format", "json", archive=arc_path)
    assert json.loads(js.stdout) == []


# --- show / counts / export / audit ------------------------------------------------------------


def test_show_summary_and_json(arc_path):
    result = run("show", "job0004", archive=arc_path)
    assert result.exit_code == 0
    assert "job0004" in result.stdout and "DONE (COMPLETED)" in result.stdout
    assert "ibmq_athens" in result.stdout and "stored, 1 experiment\n" in result.stdout
    full = run("show", "job0004", "--json", archive=arc_path)
    with Archive(arc_path) as arc:
        assert json.loads(full.stdout) == arc.record("job0004")
    brief = json.loads(run("show", "job0004", "--json", "--no-payloads", archive=arc_path).stdout)
    assert "result" not in brief and brief["job_id"] == "job0004"


def test_counts_table_and_csv(arc_path):
    result = run("counts", "job0004", archive=arc_path)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["experiment", "bitstring", "count"]
    assert [line.split() for line in lines[1:]] == [["0", "00", "44"], ["0", "11", "56"]]
    csv = run("counts", "job0004", "job0000", "--format", "csv", archive=arc_path)
    frame = pd.read_csv(io.StringIO(csv.stdout), dtype={"bitstring": str})
    assert frame["job_id"].tolist() == ["job0004"] * 2 + ["job0000"] * 2
    assert frame["count"].tolist() == [44, 56, 40, 60]
    none = run("counts", "job0001", archive=arc_path)
    assert none.exit_code == 0 and "no stored counts" in none.stderr


def test_export_parquet_and_csv(arc_path, tmp_path):
    out = tmp_path / "export"
    result = run("export", str(out), archive=arc_path)
    assert result.exit_code == 0, result.stderr
    jobs = pd.read_parquet(out / "jobs.parquet")
    counts = pd.read_parquet(out / "counts.parquet")
    assert len(jobs) == 24 and set(counts["job_id"]) == set(jobs[jobs.has_result]["job_id"])
    assert counts["count"].sum() == 6 * 100
    csv = run("export", str(out), "--format", "csv", "--status", "DONE", "--backend",
              "ibmq_athens", archive=arc_path)
    assert csv.exit_code == 0, csv.stderr
    jobs = pd.read_csv(out / "jobs.csv")
    counts = pd.read_csv(out / "counts.csv")
    assert set(jobs["status"]) == {"DONE"} and set(counts["job_id"]) <= set(jobs["job_id"])
    assert not list(out.glob(".*tmp"))


def test_audit_clean_then_corrupted(arc_path):
    clean = run("audit", archive=arc_path)
    assert clean.exit_code == 0, clean.stderr
    assert "problems=0" in clean.stderr
    blob = next((arc_path / "blobs").rglob("*.parquet"))
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    bad = run("audit", archive=arc_path)
    assert bad.exit_code == 3
    assert "job0000" in bad.stdout and "problems=6" in bad.stderr
    js = run("audit", "--format", "json", "--all", archive=arc_path)
    assert len(json.loads(js.stdout)) == 24


def test_local_retag_by_filter_dry_run_then_real(arc_path):
    with Archive(arc_path) as arc:
        selected = arc.query(job_tags=["b"])["job_id"].tolist()
    dry = run("retag", "--tag", "b", "--add", "z", "--remove", "a", "--dry-run", archive=arc_path)
    assert dry.exit_code == 0, dry.stderr
    assert f"{len(selected)} selected, {len(selected)} would change" in dry.stderr
    with Archive(arc_path) as arc:
        assert arc.query(job_tags=["z"]).empty
    real = run("retag", "--tag", "b", "--add", "z", "--remove", "a", "--format", "json",
               archive=arc_path)
    assert real.exit_code == 0, real.stderr
    rows = json.loads(real.stdout)
    assert {r["outcome"] for r in rows} == {"updated"} and {r["source"] for r in rows} == {"local"}
    with Archive(arc_path) as arc:
        assert sorted(arc.query(job_tags=["z"])["job_id"]) == sorted(selected)
        assert all(arc.get(j).tags() == ["b", "z"] for j in selected)
        assert arc.history(selected[0])["source"].tolist()[-1] == "local"
    replaced = run("retag", selected[0], "--replace", "only", archive=arc_path)
    assert replaced.exit_code == 0 and "1 updated" in replaced.stderr
    cleared = run("retag", selected[0], "--clear", archive=arc_path)
    assert cleared.exit_code == 0
    with Archive(arc_path) as arc:
        assert arc.get(selected[0]).tags() == []


# --- error paths ---------------------------------------------------------------------------------


@pytest.mark.parametrize("args", READ_COMMANDS, ids=lambda a: a[0])
def test_read_commands_refuse_a_missing_archive(tmp_path, args):
    missing = tmp_path / "missing.jobarchive"
    line = assert_one_line_error(run(*args, archive=missing), code=(1,))
    assert "No archive" in line and str(missing) in line
    assert not missing.exists()


@pytest.mark.parametrize("args,needle", [
    (["ls", "--status", "FINISHED"], "FINISHED"),
    (["ls", "--since", "yesterday"], "yesterday"),
    (["sync", "--token", "t" * 10, "--url", "http://127.0.0.1:9/api", "--since", "soon"], "soon"),
    (["ls", "--until", "2021-13-01"], "2021-13-01"),
    (["ls", "--name", "(unclosed"], "regular expression"),
    (["ls", "--name", "*"], "regular expression"),
    (["ls", "--limit", "-1"], "--limit"),
    (["ls", "--format", "xml"], "xml"),
    (["show", "no-such-job"], "no-such-job"),
    (["counts", "job0000", "no-such-job"], "no-such-job"),
    (["retag", "no-such-job", "--add", "x"], "no-such-job"),
    (["retag", "--add", "x"], "select jobs"),
    (["retag", "--all"], "nothing to do"),
    (["audit", "--threshold", "0.5"], "--reproduce"),
    (["audit", "--sample", "3"], "--reproduce"),
    (["export", "lab.jobarchive/index.db"], "not a directory"),
])
def test_bad_values_give_one_clear_line(arc_path, args, needle, monkeypatch):
    monkeypatch.chdir(arc_path.parent)
    line = assert_one_line_error(run(*args, archive=arc_path))
    assert needle in line


BAD_OPTION_VALUES = [  # (args, the option the message names)
    (["ls", "--status", "FOO"], "--status"),
    (["ls", "--status", "DONE", "--status", "finished"], "--status"),
    (["ls", "--status", "a\rb"], "--status"),  # still one line
    (["ls", "--since", "yesterday"], "--since"),
    (["ls", "--until", "2021-13-45"], "--until"),
    (["ls", "--name", "("], "--name"),
    (["ls", "--limit", "-1"], "--limit"),
    (["ls", "--skip", "x"], "--skip"),
    (["ls", "--format", "xml"], "--format"),
    (["ls", "--columns", "nosuch"], "--columns"),
    (["ls", "--columns", "job_id,nosuch", "--format", "csv"], "--columns"),
    (["ls", "--share-level", "everyone"], "--share-level"),
    (["export", "out", "--since", "soon"], "--since"),
    (["export", "out", "--status", "FOO"], "--status"),
    (["retag", "--status", "FOO", "--add", "x", "--dry-run"], "--status"),
    (["retag", "--name", "*", "--add", "x", "--dry-run"], "--name"),
    (["sync", "--token", "t" * 10, "--url", "http://127.0.0.1:9/api", "--since", "soon"], "--since"),
    (["sync", "--token", "t" * 10, "--url", "http://127.0.0.1:9/api", "--until", "2021-02-30"],
     "--until"),
    (["sync", "--token", "t" * 10, "--url", "http://127.0.0.1:9/api", "--until",
      "9999-12-31T23:00:00-05:00"], "--until"),  # year 10000 in UTC: the server filter has none
]


@pytest.mark.parametrize("contents", ["empty", "filled", "missing"])
@pytest.mark.parametrize("args,option", BAD_OPTION_VALUES, ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_a_bad_option_value_exits_2_naming_the_option(tmp_path, monkeypatch, args, option, contents):
    """README: exit 2 for usage errors. Whatever the archive holds (or if there is none), a
    bad option value is one click-style line naming the option, never Python's parameter."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "lab.jobarchive"
    if contents != "missing":
        with Archive(path) as arc:
            if contents == "filled":
                arc.add_many(_records())
    line = assert_one_line_error(run(*args, archive=path), code=(2,))
    assert line.startswith(f"Error: Invalid value for '{option}'"), line
    assert "start_datetime" not in line and "end_datetime" not in line and "job_name" not in line
    assert not (tmp_path / "out").exists() and path.exists() == (contents != "missing")


def test_bad_option_value_exit_code_through_the_console_script(tmp_path):
    path = tmp_path / "empty.jobarchive"
    Archive(path).close()
    env = {**os.environ, "JOBARCHIVE_DEBUG": ""}
    for args in (["--since", "yesterday"], ["--columns", "nosuch"], ["--status", "FOO"]):
        bad = subprocess.run(_console_script() + ["--archive", str(path), "ls", *args],
                             capture_output=True, text=True, env=env, timeout=120)
        assert bad.returncode == 2, (args, bad.stderr)
        assert bad.stderr.strip().splitlines()[-1].startswith(f"Error: Invalid value for '{args[0]}'")


def test_extreme_dates_are_valid_bounds(arc_path):
    for args in (["--since", "0001-01-01"], ["--until", "9999-12-31T23:00:00-05:00"],
                 ["--since", "0001-01-01T00:00:00+05:00", "--until", "9999-12-31"]):
        result = run("ls", "--format", "json", *args, archive=arc_path)
        assert result.exit_code == 0, (args, result.stderr)
        assert len(json.loads(result.stdout)) == 24
    late = run("ls", "--since", "9999-12-31T23:00:00-05:00", archive=arc_path)
    assert late.exit_code == 0 and "no jobs match" in late.stderr


def test_ls_limit_zero_means_no_limit(arc_path):
    """--limit 0, like query(limit=0) and IBMQBackend.jobs(limit=0), lists every job."""
    result = run("ls", "--limit", "0", "--format", "json", archive=arc_path)
    assert result.exit_code == 0, result.stderr
    assert len(json.loads(result.stdout)) == 24
    table = run("ls", "--limit", "0", "--skip", "20", archive=arc_path)
    assert table.exit_code == 0 and len(table.stdout.splitlines()) == 1 + 4
    assert "no limit" in run("ls", "--help").stdout


def test_a_file_as_archive_is_an_error(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    assert "not an archive directory" in assert_one_line_error(run("ls", archive=path))


def test_sync_without_any_token_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in ("JOBARCHIVE_TOKEN", "QE_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    line = assert_one_line_error(run("sync", archive=tmp_path / "a"), code=(2,))
    assert "token" in line
    assert not (tmp_path / "a").exists()


def test_credentials_come_from_options_env_then_qiskitrc(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in ("JOBARCHIVE_TOKEN", "QE_TOKEN", "JOBARCHIVE_URL", "QE_URL"):
        monkeypatch.delenv(var, raising=False)
    rc = tmp_path / ".qiskit" / "qiskitrc"
    rc.parent.mkdir()
    rc.write_text("[ibmq]\ntoken = rc%token\nurl = http://rc/api\n")
    assert resolve_credentials(None, None) == ("http://rc/api", "rc%token")
    monkeypatch.setenv("QE_TOKEN", "qe")
    monkeypatch.setenv("QE_URL", "http://qe/api")
    assert resolve_credentials(None, None) == ("http://qe/api", "qe")
    monkeypatch.setenv("JOBARCHIVE_TOKEN", "ja")
    assert resolve_credentials(None, None) == ("http://qe/api", "ja")
    assert resolve_credentials("http://opt/api", "opt") == ("http://opt/api", "opt")
    rc.write_text("[ibmq]\ntoken = rc\n")
    monkeypatch.delenv("JOBARCHIVE_TOKEN")
    monkeypatch.delenv("QE_TOKEN")
    monkeypatch.delenv("QE_URL")
    assert resolve_credentials(None, None) == ("https://auth.quantum-computing.ibm.com/api", "rc")


# --- fuzzing --------------------------------------------------------------------------------------

ODD_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                   min_size=0, max_size=12)
ODD_VALUE = st.one_of(ODD_TEXT, st.sampled_from([
    "", "-", "--", "*", "(", "[", "\\", "?P<", "9" * 30, "-1", "NaN", "inf", "1e309",
    "2021-02-30", "../../etc/passwd", "' OR 1=1 --", "DONE", "ERROR", "ü", "\n", "\t", " "]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_arguments_never_give_a_traceback(arc_path, data):
    option = data.draw(st.sampled_from([
        "--status", "--name", "--since", "--until", "--tag", "--share-level", "--run-mode",
        "--backend", "--limit", "--skip", "--format", "--columns", None]))
    command = data.draw(st.sampled_from(["ls", "show", "counts", "audit", "export", "retag"]))
    value = data.draw(ODD_VALUE)
    args = [command]
    if command in ("show", "counts"):
        args.append(value)
    elif command == "retag":
        args += ["--add", value, "--dry-run"]
    elif command == "export":
        args.append(str(arc_path.parent / "exp"))
    if option and command in ("ls", "export", "retag") and not (
            command != "ls" and option in ("--format", "--columns")):
        args += [option, value]
    if command == "audit":
        args += data.draw(st.sampled_from([[], ["--sample", value], ["--format", value]]))
    result = run(*args, archive=arc_path)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        args, repr(result.exception))
    assert "Traceback" not in result.stdout + result.stderr
    if result.exit_code != 0:
        assert result.exit_code in (1, 2, 3), (args, result.exit_code)
        if result.exit_code != 3:
            assert_one_line_error(result)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=ODD_VALUE, command=st.sampled_from([["ls"], ["audit"], ["show", "x"], ["counts", "x"]]))
def test_fuzzed_archive_paths_are_one_line_errors(tmp_path, monkeypatch, value, command):
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    result = run("--archive", value, *command)
    assert result.exit_code in (1, 2), (value, result.stdout)
    assert_one_line_error(result)
    assert sorted(tmp_path.rglob("*")) == before, "a read command must never create an archive"


def test_secrets_are_masked_in_error_lines():
    from jobarchive.cli import one_line

    err = RuntimeError("login failed for token s3cr3t-token-value\nsecond line")
    assert one_line(err, ["s3cr3t-token-value"]) == "RuntimeError: login failed for token *** second line"


# --- the console script ----------------------------------------------------------------------------


def _console_script() -> list[str]:
    script = Path(sys.executable).with_name("jobarchive")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from jobarchive.cli import main; main()"]


def test_console_script_subprocess(arc_path, tmp_path):
    env = {**os.environ, "JOBARCHIVE_PATH": str(arc_path)}
    env.pop("JOBARCHIVE_DEBUG", None)
    ok = subprocess.run(_console_script() + ["ls", "--status", "DONE", "--format", "csv"],
                        capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert len(pd.read_csv(io.StringIO(ok.stdout))) == 6
    bad = subprocess.run(_console_script() + ["--archive", str(tmp_path / "none"), "show", "x"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().count("\n") == 0 and bad.stderr.startswith("Error: No archive")


# --- against the emulator ------------------------------------------------------------------------


@pytest.fixture
def emu():
    with Emulator(seed_jobs=60, seed_active=4, seed=5, time_scale=3600.0) as server:
        yield server


def _no_token_anywhere(root: Path, token: str) -> None:
    needle = token.encode()
    for path in root.rglob("*"):
        if path.is_file():
            assert needle not in path.read_bytes(), path


def test_sync_then_ls_and_the_token_never_reaches_the_archive(emu, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    path = tmp_path / "synced.jobarchive"
    result = run("sync", "--url", emu.url, "--token", emu.token, "--no-progress", archive=path)
    assert result.exit_code == 0, result.stderr
    assert "discovered" in result.stdout
    with Archive(path) as arc:
        assert len(arc) == len(emu.job_docs())
    listed = run("ls", "--format", "json", archive=path)
    assert len(json.loads(listed.stdout)) == len(emu.job_docs())
    # Environment and qiskitrc work as token sources too.
    env_run = run("sync", "--url", emu.url, "--no-progress", archive=path,
                  env={"JOBARCHIVE_TOKEN": emu.token})
    assert env_run.exit_code == 0, env_run.stderr
    rc = tmp_path / ".qiskit" / "qiskitrc"
    rc.parent.mkdir()
    rc.write_text(f"[ibmq]\ntoken = {emu.token}\nurl = {emu.url}\n")
    rc_run = run("sync", "--no-progress", "--follow", "--poll-interval", "0.1", archive=path,
                 env={"JOBARCHIVE_TOKEN": None, "QE_TOKEN": None, "QE_URL": None})
    assert rc_run.exit_code == 0, rc_run.stderr
    assert "0 still running" in rc_run.stdout
    _no_token_anywhere(path, emu.token)


def test_sync_with_a_bad_token_is_one_line_without_the_token(emu, tmp_path):
    path = tmp_path / "a"
    bad = "not-the-token-" + "x" * 20
    result = run("sync", "--url", emu.url, "--token", bad, "--no-progress", archive=path)
    line = assert_one_line_error(result, code=(1,))
    assert bad not in result.stderr + result.stdout
    assert "token" in line.lower() or "401" in line or "login" in line.lower()


def test_sync_to_an_unreachable_url_is_one_line(tmp_path):
    result = run("sync", "--url", "http://127.0.0.1:9/api", "--token", "t", "--no-progress", "--max-retries", "0",
                 archive=tmp_path / "a")
    assert_one_line_error(result, code=(1,))


def test_remote_retag_dry_run_then_real(emu, tmp_path):
    path = tmp_path / "r.jobarchive"
    assert run("sync", "--url", emu.url, "--token", emu.token, "--no-progress",
               archive=path).exit_code == 0
    with Archive(path) as arc:
        target = arc.query(status="DONE", limit=5)["job_id"].tolist()
    args = ["retag", *target, "--add", "cli-campaign", "--remote", "--url", emu.url,
            "--token", emu.token, "--no-progress"]
    dry = run(*args, "--dry-run", archive=path)
    assert dry.exit_code == 0, dry.stderr
    assert "would change" in dry.stderr and all(j in dry.stdout for j in target)
    assert not any("cli-campaign" in (emu.job_doc(j).get("tags") or []) for j in target)
    real = run(*args, archive=path)
    assert real.exit_code == 0, real.stderr
    assert "5 updated" in real.stderr
    assert all("cli-campaign" in (emu.job_doc(j).get("tags") or []) for j in target)
    listed = run("ls", "--tag", "cli-campaign", "--format", "json", archive=path)
    assert sorted(r["job_id"] for r in json.loads(listed.stdout)) == sorted(target)
    _no_token_anywhere(path, emu.token)


def test_demo_quick_runs_end_to_end(tmp_path):
    path = tmp_path / "d.jobarchive"
    result = run("demo", "--quick", "--seed-jobs", "80", archive=path)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    for needle in ("Sync into", "Submit new circuits", "Queries", "Retag", "Audit", "report"):
        assert needle in result.stdout, needle
    assert (tmp_path / "d-report.html").exists()
    with Archive(path) as arc:
        assert len(arc.query(job_tags=["jobarchive-demo"], status="DONE")) == 3
    again = run("demo", "--quick", archive=path)
    assert "--fresh" in assert_one_line_error(again, code=(1,))


def test_emulator_command_serves_until_interrupted(tmp_path):
    import signal

    proc = subprocess.Popen(_console_script() + ["emulator", "--port", "0", "--seed-jobs", "30",
                                                 "--token", "tok-123"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = None
        for _ in range(20):
            line = proc.stdout.readline()
            if "url:" in line:
                url = line.split("url:", 1)[1].strip()
                break
        assert url and url.startswith("http://127.0.0.1:"), url
        result = run("sync", "--url", url, "--token", "tok-123", "--no-progress",
                     archive=tmp_path / "e")
        assert result.exit_code == 0 and "30 discovered" in result.stdout, result.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert "Traceback" not in proc.stderr.read()


def test_report_writes_html(arc_path, tmp_path):
    out = tmp_path / "r.html"
    result = run("report", str(out), "--title", "Lab <jobs>", archive=arc_path)
    assert result.exit_code == 0, result.stderr
    text = out.read_text()
    assert "<html" in text.lower() and "Lab &lt;jobs&gt;" in text
    assert "--reproduce" in assert_one_line_error(run("report", str(out), "--sample", "2",
                                                      archive=arc_path))


def test_audit_lists_then_repairs_an_orphan_blob(arc_path):
    blob = next((arc_path / "blobs").rglob("*.parquet"))
    orphan = blob.with_name("0" * 32 + ".parquet")
    orphan.write_bytes(blob.read_bytes())
    listed = run("audit", archive=arc_path)
    assert listed.exit_code == 0 and "1 orphan blobs" in listed.stderr, listed.stderr
    repaired = run("audit", "--repair", archive=arc_path)
    assert repaired.exit_code == 0 and "removed 1 orphan blobs" in repaired.stderr
    assert not orphan.exists() and blob.exists()
