"""Query correctness: ``query()`` returns exactly the jobs, in the same order, that a plain
Python filter over the same dicts returns, for random filter combinations; the documented
columns and dtypes (also when empty); and the filters run inside SQLite on an index.

The module runs with ``TZ=America/New_York`` so that "naive means local time" is tested
against a zone that is not UTC and has DST.
"""

from __future__ import annotations

import os
import random
import re
import sqlite3
import time
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import hypothesis.strategies as st
import pandas as pd
import pytest
from hypothesis import given

from jobarchive import Archive, IBMQJob, JobStatus, QueryValueError
from jobarchive.query import FRAME_COLUMNS, build_filter
from jobarchive.store import index as index_module
from jobarchive.store.index import TAG_PLANS, JobFilter

pytestmark = pytest.mark.terra046

# Written out here (not imported) so the reference does not share the library's table.
STATUS_OF = {
    "CREATING": "INITIALIZING", "CREATED": "INITIALIZING", "TRANSPILING": "INITIALIZING",
    "TRANSPILED": "INITIALIZING", "VALIDATING": "VALIDATING", "VALIDATED": "VALIDATING",
    "PENDING_IN_QUEUE": "QUEUED", "QUEUED": "QUEUED", "RUNNING": "RUNNING", "COMPLETED": "DONE",
    "CANCELLED": "CANCELLED", "ERROR_CREATING_JOB": "ERROR", "ERROR_VALIDATING_JOB": "ERROR",
    "ERROR_RUNNING_JOB": "ERROR", "ERROR_TRANSPILING_JOB": "ERROR",
}
TAGS = ["exp1", "exp2", "calib", "ü-tag", "x'; DROP TABLE jobs; --", "%", "ibmq_jobset_7", "a b"]
NAMES = [None, "bell", "bell-2", "Bell state", "ghz_5", "üñï", "n'; --", "vqe-17", "", "x%y"]
BACKENDS = [None, "ibmq_athens", "ibmq_lima", "ibmq_qasm_simulator"]
SHARE = [None, "none", "hub", "group", "project", "global"]
MODES = [None, "fairshare", "dedicated"]
REGEXES = ["bell", "^bell", "(?i)BELL", "[0-9]+$", "ü", "'; --", ".*", "^$", "x%y", "-2|_5", "",
           "/BELL/i", "/^b/"]
NY = ZoneInfo("America/New_York")
BASE = datetime(2021, 3, 1, tzinfo=UTC)  # spans the 2021 DST changes in New York
SPAN_MIN = 400 * 24 * 60


def _dataset(n: int = 300, seed: int = 11) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        # Some jobs share a creation instant so the job_id tie-break is exercised.
        minute = rng.randrange(0, SPAN_MIN, 7 if i % 5 == 0 else 1)
        when = BASE + timedelta(minutes=minute, microseconds=rng.choice([0, 512000, 999999]))
        rec = {"job_id": f"job{rng.randrange(10**6):06d}x{i}",
               "creation_date": when.isoformat(),
               "status": rng.choice(list(STATUS_OF)),
               "name": rng.choice(NAMES),
               "tags": rng.sample(TAGS, rng.randint(0, 4)),
               "backend_name": rng.choice(BACKENDS),
               "share_level": rng.choice(SHARE),
               "run_mode": rng.choice(MODES)}
        out.append(IBMQJob.from_dict(rec).to_dict())
    return out


@pytest.fixture(scope="module", autouse=True)
def new_york_local_time():
    old = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.fixture(scope="module")
def dataset() -> list[dict]:
    return _dataset()


@pytest.fixture(scope="module")
def qarc(tmp_path_factory, dataset):
    with Archive(tmp_path_factory.mktemp("q") / "q.jobarchive") as archive:
        archive.add_many(dataset)
        yield archive


# --- the reference: a plain Python filter over the dicts --------------------------------------


def _utc(value) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC)  # naive -> local time, like IBMQBackend.jobs()


def _python_regex(job_name: str) -> str:
    """The server reads "/body/flags" as a JavaScript RegExp literal (written out here)."""
    literal = re.fullmatch(r"/(.*)/([a-z]*)", job_name, re.S)
    if not literal:
        return job_name
    body, flags = literal.groups()
    return f"(?i:{body})" if "i" in flags else body


def reference(records: list[dict], *, status=None, job_name=None, start_datetime=None,
              end_datetime=None, job_tags=None, job_tags_operator="OR", share_level=None,
              run_mode=None, backend_name=None, limit=None, skip=0, descending=True) -> list[str]:
    if status:  # falsy (None, "", []) is no filter, as upstream's `if status:`
        wanted = {s.name if isinstance(s, JobStatus) else s.upper()
                  for s in (status if isinstance(status, list) else [status])}
    start, end = _utc(start_datetime), _utc(end_datetime)

    def one_of(value, allowed):
        return allowed is None or value in ([allowed] if isinstance(allowed, str) else allowed)

    out = []
    for r in records:
        created = datetime.fromisoformat(r["creation_date"])
        if status and STATUS_OF[r["status"]] not in wanted:
            continue
        if job_name and (r["name"] is None or not re.search(_python_regex(job_name), r["name"])):
            continue
        if (start and created < start) or (end and created > end):
            continue
        if job_tags:
            match = all if job_tags_operator.upper() == "AND" else any
            if not match(t in r["tags"] for t in job_tags):
                continue
        if not (one_of(r["share_level"] or "none", share_level) and one_of(r["run_mode"], run_mode)
                and one_of(r["backend_name"], backend_name)):
            continue
        out.append((created, r["job_id"]))
    out.sort(reverse=descending)
    ids = [j for _, j in out][skip:]
    return ids[:limit] if limit else ids  # None or 0: no limit, as IBMQBackend.jobs()


# --- random filter combinations ----------------------------------------------------------------

statuses = st.one_of(st.sampled_from(list(JobStatus)),
                     st.sampled_from([s.name for s in JobStatus]).map(
                         lambda s: random.Random(s).choice([s, s.lower(), s.title()])))
tzs = st.sampled_from([None, UTC, NY, timezone(timedelta(hours=5, minutes=30)),
                       timezone(timedelta(hours=-8))])


@st.composite
def instants(draw):
    """A bound inside (or just around) the data: aware in any zone, naive local, or a string."""
    dt = BASE + timedelta(minutes=draw(st.integers(-60, SPAN_MIN + 60)),
                          microseconds=draw(st.sampled_from([0, 512000, 999999])))
    tz = draw(tzs)
    style = draw(st.sampled_from(["aware", "naive", "string", "timestamp"]))
    if style == "naive":
        local = dt.astimezone()  # local wall time of that instant...
        naive = local.replace(tzinfo=None)
        if naive.astimezone() != local:  # ...skipping the DST hour that has no unique instant
            naive = dt.replace(tzinfo=None) + timedelta(hours=3)
        return naive
    aware = dt.astimezone(tz or UTC)
    if style == "string":
        return aware.isoformat()
    if style == "timestamp":
        return pd.Timestamp(aware)
    return aware


def one_or_list(values):
    present = [v for v in values if v is not None]
    return st.one_of(st.none(), st.sampled_from(present),
                     st.lists(st.sampled_from(present + ["nope"]), min_size=1, max_size=3))


filters = st.fixed_dictionaries({}, optional={
    "status": st.one_of(statuses, st.lists(statuses, max_size=3)),
    "job_name": st.sampled_from(REGEXES),
    "start_datetime": instants(),
    "end_datetime": instants(),
    "job_tags": st.lists(st.sampled_from(TAGS + ["missing"]), max_size=3),
    "job_tags_operator": st.sampled_from(["OR", "AND", "or", "And"]),
    "share_level": one_or_list(SHARE),
    "run_mode": one_or_list(MODES),
    "backend_name": one_or_list(BACKENDS),
    "limit": st.integers(0, 60),
    "skip": st.integers(0, 60),
    "descending": st.booleans(),
})


@given(kwargs=filters)
def test_query_equals_plain_python_filter(qarc, dataset, kwargs):
    got = qarc.query(**kwargs)
    assert list(got["job_id"]) == reference(dataset, **kwargs)
    assert list(got.columns) == list(FRAME_COLUMNS)


@given(kwargs=filters)
def test_rows_carry_the_stored_values(qarc, dataset, kwargs):
    by_id = {r["job_id"]: r for r in dataset}
    got = qarc.query(**kwargs)
    for row in got.head(15).itertuples(index=False):
        rec = by_id[row.job_id]
        assert row.api_status == rec["status"] and row.status == STATUS_OF[rec["status"]]
        assert row.creation_date == datetime.fromisoformat(rec["creation_date"])
        assert list(row.tags) == rec["tags"]
        assert row.share_level == (rec["share_level"] or "none")  # as IBMQJob.share_level()
        for col in ("name", "backend_name", "run_mode"):
            value = getattr(row, col)
            assert (None if pd.isna(value) else value) == rec[col], col


def test_every_status_spelling(qarc, dataset):
    for status in (JobStatus.DONE, "DONE", "done", ["DONE"], [JobStatus.DONE, "error"]):
        assert list(qarc.query(status=status)["job_id"]) == reference(dataset, status=status)
    assert len(qarc.query(status=list(JobStatus))) == len(dataset)


def test_naive_dates_are_new_york_local_time(qarc, dataset):
    for rec in dataset[:40:4]:  # summer and winter jobs: EDT and EST
        at = datetime.fromisoformat(rec["creation_date"])
        wall = at.astimezone(NY).replace(tzinfo=None)  # what a New York user types
        naive = qarc.query(start_datetime=wall, end_datetime=wall)
        assert rec["job_id"] in set(naive["job_id"])
        aware = qarc.query(start_datetime=wall.replace(tzinfo=NY), end_datetime=wall.replace(tzinfo=NY))
        assert list(naive["job_id"]) == list(aware["job_id"])
        as_utc = qarc.query(start_datetime=wall.replace(tzinfo=UTC), end_datetime=wall.replace(tzinfo=UTC))
        assert rec["job_id"] not in set(as_utc["job_id"])  # 4-5 hours off


def test_date_range_is_inclusive_to_the_microsecond(qarc, dataset):
    rec = dataset[17]
    at = datetime.fromisoformat(rec["creation_date"])
    hit = qarc.query(start_datetime=at, end_datetime=at)
    assert rec["job_id"] in set(hit["job_id"])
    assert (hit["creation_date"] == at).all()
    one = timedelta(microseconds=1)
    assert rec["job_id"] not in set(qarc.query(start_datetime=at + one, end_datetime=at + one)["job_id"])
    assert rec["job_id"] not in set(qarc.query(end_datetime=at - one)["job_id"])


def test_sql_metacharacters_and_wildcards_match_verbatim(qarc, dataset):
    evil = "x'; DROP TABLE jobs; --"
    assert list(qarc.query(job_tags=[evil])["job_id"]) == reference(dataset, job_tags=[evil])
    assert list(qarc.query(job_tags=["%"])["job_id"]) == reference(dataset, job_tags=["%"])
    assert qarc.query(job_tags=["_"]).empty and qarc.query(job_tags=["exp%"]).empty
    assert list(qarc.query(job_name="'; --")["job_id"]) == reference(dataset, job_name="'; --")
    assert len(qarc) == len(dataset)


def test_empty_tag_list_is_no_tag_filter_like_upstream(qarc, dataset):
    assert len(qarc.query(job_tags=[])) == len(dataset)
    assert len(qarc.query(job_tags=[], job_tags_operator="AND")) == len(dataset)


def test_limit_zero_means_no_limit_like_upstream(qarc, dataset):
    """Reference section 6: ``limit=0`` (like None) is unlimited, not "no rows"."""
    assert list(qarc.query(limit=0)["job_id"]) == reference(dataset)
    assert len(qarc.query(limit=0)) == len(dataset) > 0
    assert list(qarc.query(limit=0, skip=7, descending=False)["job_id"]) == reference(
        dataset, skip=7, descending=False)
    assert list(qarc.query(limit=0, status="DONE")["job_id"]) == reference(dataset, status="DONE")
    assert build_filter(limit=0).limit is None and build_filter(limit=3).limit == 3


def test_dates_at_the_ends_of_the_datetime_range_are_bounds(qarc, dataset):
    """Years 1 and 9999 (naive or with an offset that leaves datetime's range in UTC) are
    bounds before or after every job, not an OverflowError."""
    for start in ("0001-01-01", "0001-01-01T00:00:00+05:00", datetime(1, 1, 1)):
        assert len(qarc.query(start_datetime=start)) == len(dataset)
        assert qarc.query(end_datetime=start).empty
    for end in ("9999-12-31", "9999-12-31T23:00:00-05:00", datetime(9999, 12, 31, 23, 59)):
        assert len(qarc.query(end_datetime=end)) == len(dataset)
        assert qarc.query(start_datetime=end).empty


# --- columns and dtypes ----------------------------------------------------------------------


def _check_dtypes(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == list(FRAME_COLUMNS)
    dt = frame["creation_date"].dtype
    assert isinstance(dt, pd.DatetimeTZDtype) and str(dt.tz) == "UTC"
    for col in ("job_id", "name", "backend_name", "status", "api_status", "share_level",
                "run_mode", "kind", "experiment_id", "client_version"):
        assert isinstance(frame[col].dtype, pd.StringDtype), col
    assert str(frame["num_experiments"].dtype) == "Int64" and str(frame["shots"].dtype) == "Int64"
    assert frame["has_result"].dtype == bool
    assert frame["tags"].dtype == object
    assert all(isinstance(t, list) and all(isinstance(x, str) for x in t) for t in frame["tags"])


def test_documented_columns_and_dtypes(qarc):
    frame = qarc.query()
    assert len(frame) == len(qarc)
    _check_dtypes(frame)
    assert frame["creation_date"].is_monotonic_decreasing
    assert qarc.query(descending=False)["creation_date"].is_monotonic_increasing


def test_empty_result_keeps_columns_and_dtypes(qarc, tmp_path):
    _check_dtypes(qarc.query(job_tags=["missing"]))
    _check_dtypes(qarc.query(skip=len(qarc)))
    with Archive(tmp_path / "empty") as empty:
        _check_dtypes(empty.query())
    empty_frame, full = qarc.query(job_tags=["missing"]), qarc.query()
    assert (empty_frame.dtypes == full.dtypes).all()


def test_bad_filter_values_are_clear_errors(qarc):
    bad = [dict(status="FINISHED"), dict(status=[JobStatus.DONE, 3]), dict(job_tags_operator="XOR"),
           dict(job_tags="exp1"), dict(job_tags=[1]), dict(job_name="("), dict(job_name=5),
           dict(start_datetime="yesterday"), dict(end_datetime=20210101), dict(limit=-1),
           dict(skip=-2), dict(limit=True), dict(limit=2**63), dict(skip=10**30), dict(share_level=5), dict(backend_name=[None])]
    for kwargs in bad:
        with pytest.raises(QueryValueError):
            qarc.query(**kwargs)
    with pytest.raises(QueryValueError, match='"XOR" is not a valid job_tags_operator'):
        qarc.query(job_tags=["a"], job_tags_operator="XOR")


# --- filters run in SQLite, on an index ------------------------------------------------------


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """3,000 jobs without payloads (one transaction, no Parquet): enough for plans and steps."""
    rng = random.Random(5)
    recs = [{"job_id": f"big{i:05d}", "creation_date": (BASE + timedelta(minutes=i * 37)).isoformat(),
             "status": rng.choice(list(STATUS_OF)), "tags": rng.sample(TAGS, rng.randint(0, 2)),
             "share_level": rng.choice(SHARE), "backend_name": rng.choice(BACKENDS),
             "run_mode": rng.choice(MODES), "name": f"n{i}"} for i in range(3000)]
    with Archive(tmp_path_factory.mktemp("big") / "b.jobarchive") as archive:
        archive.add_many(recs, batch_size=5000)
        archive.index.analyze()
        yield archive


PLANS = {
    "tags+date+share": dict(job_tags=["exp1", "calib"], start_datetime=BASE + timedelta(days=5),
                            end_datetime=BASE + timedelta(days=9), share_level="hub"),
    "tags AND+date+share": dict(job_tags=["exp1", "calib"], job_tags_operator="AND",
                                start_datetime=BASE + timedelta(days=5),
                                end_datetime=BASE + timedelta(days=9), share_level="hub"),
    "tags only": dict(job_tags=["exp2"]),
    "tags AND only": dict(job_tags=["exp2", "%"], job_tags_operator="AND"),
    "status": dict(status="DONE"),
    "backend": dict(backend_name="ibmq_lima"),
    "run_mode": dict(run_mode="dedicated"),
    "date": dict(start_datetime=BASE + timedelta(days=5), end_datetime=BASE + timedelta(days=6)),
}


@pytest.mark.parametrize("name", list(PLANS))
def test_an_index_drives_each_filter(big, name):
    plan = big.index.explain(build_filter(**PLANS[name]))
    driver = plan[0]
    assert driver.startswith("SEARCH jobs USING"), plan  # never a full SCAN of the table
    assert "INDEX" in driver, plan
    if name.startswith("tags"):
        assert any("job_tags" in p or " t USING PRIMARY KEY" in p for p in plan), plan


@pytest.mark.parametrize("name", ["tags+date+share", "tags only", "status", "date"])
def test_filters_run_in_sql_not_in_pandas(big, name):
    """One SELECT with every filter bound as a parameter; SQLite visits a small part of the
    table (counted in VM steps), and only the matching rows are fetched."""
    statements: list[str] = []
    steps = [0]

    def count_step():
        steps[0] += 1
        return 0

    conn = big.index.conn
    conn.set_trace_callback(statements.append)
    conn.set_progress_handler(count_step, 50)
    try:
        frame = big.query(**PLANS[name])
        selective_steps = steps[0]
        steps[0] = 0
        everything = big.query()
        full_steps = steps[0]
    finally:
        conn.set_trace_callback(None)
        conn.set_progress_handler(None, 0)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    planning = [s for s in selects if s.startswith(("SELECT count(*) FROM (SELECT 1 FROM jobs",
                                                   "SELECT tag, jobs FROM tag_counts"))]
    assert len(planning) == (2 if "job_tags" in PLANS[name] and len(PLANS[name]) > 1 else 0)
    fetches = [s for s in selects if s not in planning]
    assert len(fetches) == 2 and " WHERE " in fetches[0]
    sql, params = big.index._select_sql(build_filter(**PLANS[name]), ["job_id"])
    for value in ("hub", "exp1", "exp2", "DONE"):
        assert value not in sql  # bound as a parameter, never spliced into the SQL
    assert sql.count("?") == len(params)
    assert 0 < len(frame) < len(everything) / 5
    assert selective_steps * 3 < full_steps, (selective_steps, full_steps)


# --- how tags are matched: chosen from counts, every plan the same rows ----------------------


@pytest.fixture(scope="module")
def skewed(tmp_path_factory):
    """3,000 hub jobs a minute apart: "common" on 90%, "mid" on 20%, "rare" on 10 jobs."""
    recs = [{"job_id": f"s{i:05d}", "creation_date": (BASE + timedelta(minutes=i)).isoformat(),
             "status": "COMPLETED", "share_level": "hub",
             "tags": [t for t, every in (("common", 10), ("mid", 5), ("rare", 300))
                      if (i % every != 0) == (t == "common")]} for i in range(3000)]
    with Archive(tmp_path_factory.mktemp("skewed") / "s.jobarchive") as archive:
        archive.add_many(recs)
        archive.index.analyze()
        yield archive


SHARE_INDEX = "jobs_share_creation"
SKEWED = {  # (filters, the plan the counts call for, (what drives, how tags are matched))
    "rare tag, wide range": (dict(job_tags=["rare"], share_level="hub"), "list",
                             ("(job_id=?)", "LIST SUBQUERY")),
    "common tag, narrow range": (dict(job_tags=["common"], share_level="hub", start_datetime=BASE,
                                      end_datetime=BASE + timedelta(minutes=99)), "exists",
                                 (SHARE_INDEX, "CORRELATED SCALAR SUBQUERY")),
    "mid tag, wide range": (dict(job_tags=["mid", "rare"], share_level="hub"), "range",
                            (SHARE_INDEX, "LIST SUBQUERY")),
    "AND, rarest looked up first": (dict(job_tags=["common", "mid"], job_tags_operator="AND",
                                         share_level="hub"), "range", (SHARE_INDEX, "LIST SUBQUERY")),
}


@pytest.mark.parametrize("name", list(SKEWED))
def test_tag_plan_follows_the_counts(skewed, name):
    kwargs, want, (driver, matcher) = SKEWED[name]
    flt, plan = skewed.index.tag_plan(build_filter(**kwargs))
    assert plan == want
    if kwargs.get("job_tags_operator") == "AND":
        assert flt.tags == ["mid", "common"]
    lines = skewed.index.explain(build_filter(**kwargs))
    explained = " | ".join(lines)
    assert lines[0].startswith("SEARCH jobs") and driver in lines[0], explained
    assert matcher in explained, explained
    assert "USE TEMP B-TREE" not in explained or plan == "list", explained  # the index orders the rest


def _with_plan(archive, flt, plan) -> list[str]:
    where, params = flt.where(plan)
    return [r[0] for r in archive.index.conn.execute(
        f"SELECT job_id FROM jobs WHERE {where} ORDER BY creation_us DESC, job_id DESC", params)]


@pytest.mark.parametrize("name", [n for n in PLANS if n.startswith("tags")])
def test_every_tag_plan_returns_the_same_rows(big, skewed, name):
    for archive, kwargs in ((big, PLANS[name]), *((skewed, k) for k, _, _ in SKEWED.values())):
        flt = build_filter(**kwargs)
        expected = list(archive.query(**kwargs)["job_id"])
        assert expected or archive is big
        for plan in ("exists", "range", "list"):
            assert _with_plan(archive, flt, plan) == expected, plan
    with pytest.raises(ValueError, match="tag_plan must be one of"):
        build_filter(job_tags=["a"]).where("join")


# --- long lists: no SQLite limit is reached, same rows and order ------------------------------


MANY = [f"t{i:04d}" for i in range(1200)]


@pytest.fixture
def many_tags(tmp_path):
    """40 jobs: all 1,200 tags, all but the last, the first 600, or another tag. The
    connection allows only 999 host parameters, as SQLite builds before 3.32 do."""
    recs = []
    for k in range(40):
        tags = [MANY, MANY[:-1], MANY[:600], ["x"]][k % 4]
        recs.append({"job_id": f"m{k:03d}", "creation_date": (BASE + timedelta(hours=k % 7, minutes=k)).isoformat(),
                     "status": "COMPLETED", "tags": tags, "share_level": ["hub", "none"][k % 2],
                     "backend_name": f"b{k % 3}", "run_mode": "fairshare", "name": f"n{k}"})
    with Archive(tmp_path / "many.jobarchive") as archive:
        archive.add_many(recs)
        archive.index.conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
        yield archive, [IBMQJob.from_dict(r).to_dict() for r in recs]


def test_and_with_more_than_999_tags_answers(many_tags):
    archive, recs = many_tags
    missing = [f"nope{i}" for i in range(3000)]
    cases = [dict(job_tags=MANY, job_tags_operator="AND"),
             dict(job_tags=MANY[:-1], job_tags_operator="and", descending=False),
             dict(job_tags=list(reversed(MANY)) + MANY[:5], job_tags_operator="AND", share_level="hub"),
             dict(job_tags=MANY + ["x"], job_tags_operator="AND"),
             dict(job_tags=MANY, job_tags_operator="AND", backend_name=["b0", "b1"], limit=3, skip=1),
             dict(job_tags=missing + ["t1199"]),
             dict(job_tags=missing + ["t1199", "x"], share_level="none", descending=False),
             dict(job_tags=missing, job_tags_operator="OR")]
    for kwargs in cases:
        want = reference(recs, **kwargs)
        assert list(archive.query(**kwargs)["job_id"]) == want, kwargs
        flt = build_filter(**kwargs)
        if "limit" not in kwargs and kwargs.get("descending", True):
            for plan in TAG_PLANS:  # every way of matching tags gives the same rows
                assert _with_plan(archive, flt, plan) == want, (plan, kwargs)
    assert len(archive.query(job_tags=MANY, job_tags_operator="AND")) == 10
    assert len(archive.query(job_tags=MANY[:-1], job_tags_operator="AND")) == 20


def test_thousands_of_values_in_any_list_filter(many_tags):
    archive, recs = many_tags
    noise = [f"zz{i}" for i in range(3000)]
    kwargs = dict(backend_name=noise + ["b1", "b2"], share_level=noise + ["hub"],
                  run_mode=noise + ["fairshare"], job_tags=noise + ["t0000"],
                  job_name="|".join([f"^nomatch{i}$" for i in range(3000)] + ["^n1"]))
    want = reference(recs, **kwargs)
    assert want and list(archive.query(**kwargs)["job_id"]) == want
    job_ids = [r["job_id"] for r in recs[::3]]
    rows = archive.index.select(JobFilter(job_ids=noise + job_ids), ("job_id",))
    assert sorted(r[0] for r in rows) == sorted(job_ids)
    # an index still drives the query (no full scan of the table)
    assert archive.index.explain(build_filter(**kwargs))[0].startswith("SEARCH jobs USING")


def test_tags_with_a_nul_character_in_a_long_list(many_tags):
    """json_each would cut "a\\x00b" at the NUL: such values are bound on their own."""
    archive, _ = many_tags
    odd = ["a\x00b", "\x00"]
    archive.add({"job_id": "nul", "creation_date": BASE.isoformat(), "status": "COMPLETED",
                 "tags": odd + MANY[:150]})
    archive.add({"job_id": "cut", "creation_date": BASE.isoformat(), "status": "COMPLETED",
                 "tags": ["a", ""] + MANY[:150]})
    noise = [f"q{i}" for i in range(200)]
    assert archive.query(job_tags=[odd[0]] + noise)["job_id"].tolist() == ["nul"]
    assert archive.query(job_tags=odd + MANY[:150], job_tags_operator="AND")["job_id"].tolist() == ["nul"]
    assert archive.query(job_tags=["a", ""] + MANY[:150], job_tags_operator="AND")["job_id"].tolist() == ["cut"]
    assert archive.query(job_tags=["a"] + noise)["job_id"].tolist() == ["cut"]


@given(kwargs=filters)
def test_long_list_form_equals_the_plain_form(qarc, dataset, kwargs):
    """Every list bound as one JSON parameter (the form long lists take) gives the same
    rows in the same order as the plain ``IN (?, ...)`` plans."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(index_module, "_MANY_VALUES", 0)
        got = list(qarc.query(**kwargs)["job_id"])
        flt = build_filter(**kwargs)
        sql, _ = qarc.index._select_sql(flt, ["job_id"])
    assert got == reference(dataset, **kwargs)
    if flt.tags or len(set(flt.backend_names or [])) > 1:
        assert "json_each" in sql
