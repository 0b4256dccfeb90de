"""query() filters against what the provider's jobs() answers from the emulator (the same
jobs, through the upstream filter semantics), and filter values as pandas work hands them
over: falsy values, "/body/flags" name regexes, sub-microsecond bounds, Series and numpy
values, server status strings.
"""

from __future__ import annotations

import random
import warnings
from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

import jobarchive
from jobarchive import Archive, JobStatus, QueryValueError
from jobarchive.emulator import Emulator

BASE = datetime(2021, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    """An archive synced from a small emulator history, and a provider on the same server."""
    # Final jobs only: active ones move on the emulator clock between the sync and jobs().
    with Emulator(seed_jobs=60, seed=5, seed_active=0) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        with Archive(tmp_path_factory.mktemp("e") / "e.jobarchive") as arc:
            arc.sync(provider, progress=False)
            yield arc, provider, emu.job_docs()


def _upstream(provider, **kwargs) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [j.job_id() for j in provider.jobs(limit=0, **kwargs)]


@pytest.mark.parametrize("kwargs", [
    dict(job_name=""), dict(status=[]), dict(status=""), dict(backend_name=""),
    dict(job_tags=[]), dict(job_name="", status=[], backend_name="", job_tags=[], descending=False),
])
def test_falsy_filters_are_no_filter_like_upstream(synced, kwargs):
    """IBMQBackendService.jobs() tests `if status:`, `if job_name:`, `if backend_name:`: a
    falsy value is no filter (job_name="" kept only named jobs, status=[] and
    backend_name="" none at all)."""
    arc, provider, docs = synced
    got = list(arc.query(**kwargs)["job_id"])
    assert got == _upstream(provider, **kwargs)
    assert len(got) == len(docs)


def test_empty_lists_of_archive_only_filters_are_no_filter(synced):
    arc, _, docs = synced
    for kwargs in (dict(share_level=[]), dict(run_mode=[]), dict(backend_name=[]), dict(share_level="")):
        assert len(arc.query(**kwargs)) == len(docs), kwargs


def test_name_regex_literal_with_flags_as_the_server_reads_it(synced):
    """LoopBack reads a regexp "/body/flags" as a RegExp literal: "/BELL/i" finds "bell-1"."""
    arc, provider, docs = synced
    names = [d.get("name") for d in docs if d.get("name")]
    assert any("bell" in n for n in names)
    for pattern in ("/BELL/i", "/^bell-1/", "/^BELL-\\d+$/i", "//", "/bell/gi"):
        got = list(arc.query(job_name=pattern)["job_id"])
        assert got == _upstream(provider, job_name=pattern), pattern
        assert got, pattern
    assert list(arc.query(job_name="/BELL/")["job_id"]) == _upstream(provider, job_name="/BELL/") == []
    with pytest.raises(QueryValueError, match="unknown regular-expression flags 'x'"):
        arc.query(job_name="/bell/x")


def test_random_filter_combinations_equal_provider_jobs(synced):
    arc, provider, docs = synced
    rng = random.Random(3)
    names = sorted({d["name"][:4] for d in docs if d.get("name")})
    tags = sorted({t for d in docs for t in d.get("tags") or []})
    backends = sorted({d["backend"]["name"] for d in docs})
    dates = sorted(d["creationDate"] for d in docs)
    for _ in range(40):
        kwargs: dict = {"descending": rng.random() < 0.5}
        if rng.random() < 0.4:
            kwargs["status"] = rng.choice([rng.choice(list(JobStatus)), rng.choice(list(JobStatus)).name.lower()])
        if rng.random() < 0.3:
            kwargs["job_name"] = rng.choice(names)
        if rng.random() < 0.4:
            kwargs["job_tags"] = rng.sample(tags, 2)
            kwargs["job_tags_operator"] = rng.choice(["OR", "and"])
        if rng.random() < 0.3:
            kwargs["backend_name"] = rng.choice(backends)
        if rng.random() < 0.4:
            kwargs["start_datetime"] = datetime.fromisoformat(rng.choice(dates)).astimezone(
                timezone(timedelta(hours=5, minutes=30)))
        if rng.random() < 0.4:
            kwargs["end_datetime"] = datetime.fromisoformat(rng.choice(dates))
        assert list(arc.query(**kwargs)["job_id"]) == _upstream(provider, **kwargs), kwargs


# --- values as pandas and numpy hand them over --------------------------------------------------


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    recs = [{"job_id": f"s{i}", "creation_date": (BASE + timedelta(hours=i)).isoformat(),
             "status": ["COMPLETED", "ERROR_RUNNING_JOB", "CANCELLED"][i % 3],
             "name": None if i % 4 == 0 else f"run-{i}", "tags": [f"t{i % 3}"],
             "backend_name": ["ibmq_lima", "ibmq_athens"][i % 2]} for i in range(12)]
    with Archive(tmp_path_factory.mktemp("s") / "s.jobarchive") as arc:
        arc.add_many(recs)
        yield arc


def test_a_start_bound_finer_than_a_microsecond_is_not_rounded_down(small):
    """A job created at 01:00:00.000000 is before a start of 01:00:00.000000001."""
    at = BASE + timedelta(hours=1)
    for start in (pd.Timestamp(at) + pd.Timedelta(nanoseconds=1),
                  "2021-03-01T01:00:00.000000001+00:00", "2021-03-01T02:30:00.0000000001+01:30"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = small.query(start_datetime=start, descending=False)
        assert got["job_id"].iloc[0] == "s2", start
        assert small.query(end_datetime=start, descending=False)["job_id"].iloc[-1] == "s1", start
    # Digits past the microseconds that are zeros change nothing.
    assert small.query(start_datetime="2021-03-01T01:00:00.000000000+00:00",
                       descending=False)["job_id"].iloc[0] == "s1"


def test_dates_and_numpy_datetimes_are_bounds(small):
    """A date is its local midnight, like the string "YYYY-MM-DD"; a numpy datetime64 is
    naive, so local time, like a naive datetime."""
    day = date(2021, 3, 1)
    assert list(small.query(start_datetime=day)["job_id"]) == list(small.query(start_datetime="2021-03-01")["job_id"])
    at = BASE + timedelta(hours=5)
    naive = at.astimezone().replace(tzinfo=None)
    got = small.query(start_datetime=np.datetime64(naive), end_datetime=np.datetime64(naive))
    assert list(got["job_id"]) == ["s5"]
    with pytest.raises(QueryValueError, match="NaT"):
        small.query(start_datetime=pd.NaT)


def test_list_filters_take_series_arrays_and_unique(small):
    frame = small.query()
    backends = frame["backend_name"].unique()  # an ExtensionArray, not a list
    assert len(small.query(backend_name=backends)) == 12
    assert len(small.query(backend_name=pd.Series(["ibmq_lima"]))) == 6
    assert list(small.query(status=frame["status"].unique())["job_id"]) == list(frame["job_id"])
    assert len(small.query(status=np.array(["DONE"]))) == 4
    assert len(small.query(job_tags=pd.Series(["t0", "t1"]))) == 8
    assert len(small.query(job_tags={"t0"})) == 4
    assert len(small.query(limit=np.int64(3), skip=np.int32(1))) == 3
    with pytest.raises(QueryValueError, match=r"dropna"):
        small.query(backend_name=pd.Series(["ibmq_lima", None], dtype="string"))


def test_a_server_status_string_error_names_the_job_status(small):
    with pytest.raises(QueryValueError, match=r'"COMPLETED" is a server status .*status="DONE"'):
        small.query(status="COMPLETED")
    with pytest.raises(QueryValueError, match=r'status="ERROR".*api_status == "ERROR_RUNNING_JOB"'):
        small.query(status=["DONE", "error_running_job"])
    with pytest.raises(QueryValueError, match="is not a valid status value"):
        small.query(status="FINISHED")


def test_a_nested_list_is_named_in_the_error(small):
    with pytest.raises(QueryValueError, match=r"backend_name must be a string or a list of strings, not \['a', 'b'\]$"):
        small.query(backend_name=[["a", "b"]])
    with pytest.raises(QueryValueError, match=r"share_level .* not \['x', 'y'\]$"):
        small.query(share_level=("none", ["x", "y"]))


def test_common_mistakes_get_errors_that_name_the_fix(small):
    with pytest.raises(QueryValueError, match=r"job_tags needs to be a list or strings\. Got 't0'; for one tag pass \['t0'\]"):
        small.query(job_tags="t0")
    with pytest.raises(QueryValueError, match=r"Got \['t0', 3\]$"):
        small.query(job_tags=["t0", 3])
    with pytest.raises(QueryValueError, match=r"'01/03/2021' is not an ISO-8601 date; write e\.g\. '2021-03-01'"):
        small.query(start_datetime="01/03/2021")


def test_experiment_id_filter_like_upstream_0_20(tmp_path):
    with Archive(tmp_path / "x.jobarchive") as arc:
        arc.add_many([{"job_id": f"x{i}", "creation_date": (BASE + timedelta(hours=i)).isoformat(),
                       "status": "COMPLETED", "experiment_id": f"exp-{i % 2}"} for i in range(6)])
        assert list(arc.query(experiment_id="exp-1", descending=False)["job_id"]) == ["x1", "x3", "x5"]


def test_descending_must_be_a_boolean(small):
    with pytest.raises(QueryValueError, match="descending must be True or False, not 'False'"):
        small.query(descending="False")
    assert list(small.query(descending=np.bool_(False))["job_id"]) == list(small.query(descending=0)["job_id"])
    assert small.query(descending=None)["job_id"].iloc[0] == "s0"  # falsy, as upstream's `if descending`


def test_job_name_takes_a_compiled_regex_with_its_flags(small):
    import re

    assert list(small.query(job_name=re.compile("RUN-1", re.I))["job_id"]) == list(
        small.query(job_name="run-1")["job_id"]) == ["s11", "s10", "s1"]
    assert small.query(job_name=re.compile("RUN-1")).empty
    verbose = re.compile(r"""run - 1  # the tens
                             \d""", re.X)
    assert list(small.query(job_name=verbose)["job_id"]) == ["s11", "s10"]


def test_a_tzinfo_without_an_offset_counts_as_naive(small):
    """Python reads a datetime whose tzinfo gives no utcoffset as naive: local time."""
    from datetime import tzinfo

    class NoOffset(tzinfo):
        def utcoffset(self, dt):
            return None

        def dst(self, dt):
            return None

    naive = (BASE + timedelta(hours=3)).astimezone().replace(tzinfo=None)
    got = small.query(start_datetime=naive.replace(tzinfo=NoOffset()), end_datetime=naive)
    assert list(got["job_id"]) == ["s3"]
