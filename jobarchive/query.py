"""Query filters (validated the way ``IBMQBackend.jobs()`` validates them) and DataFrames.

The filtering itself happens in SQLite (``store.index.JobFilter``); this module only turns
user arguments into a filter and rows into a typed DataFrame.
"""

from __future__ import annotations

import contextlib
import gc
import operator
import re
import warnings
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa

from .exceptions import QueryValueError
from .status import API_TO_JOB_STATUS, SHARE_LEVELS, JobStatus, parse_job_status
from .store.index import QUERY_COLUMNS, JobFilter

FRAME_COLUMNS = ("job_id", "name", "backend_name", "status", "api_status", "creation_date",
                 "tags", "share_level", "run_mode", "kind", "experiment_id", "client_version",
                 "num_experiments", "shots", "has_result")


_SQLITE_MAX_INT = 2**63 - 1  # LIMIT/OFFSET are bound as SQLite's signed 64-bit integers
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


def _empty(value: Any) -> bool:
    """Whether a filter value is one ``IBMQBackend.jobs()`` skips (``if status:``, ``if
    job_name:``, ``if backend_name:``, ``if job_tags:``): None, "" or an empty collection."""
    if value is None or isinstance(value, str):
        return not value
    try:
        return len(value) == 0
    except TypeError:
        return False


def _missing(value: Any) -> bool:
    """Whether a value is a missing scalar (None, NA, NaN, NaT); lists and the like are not."""
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def _values(value: Any) -> list[Any] | None:
    """The items of a list-like filter value (list, tuple, set, Series, Index, numpy or
    pandas array), or None if it is not one. Strings, bytes and mappings are not."""
    if isinstance(value, str | bytes | dict | JobStatus) or not isinstance(value, Iterable):
        return None
    return list(value)


def _as_list(value: Any, what: str) -> list[str] | None:
    if _empty(value):
        return None  # no filter, as upstream does with a falsy backend_name
    values = [value] if isinstance(value, str) else _values(value)
    if values is None or not all(isinstance(v, str) for v in values):
        bad = value if values is None else next(v for v in values if not isinstance(v, str))
        raise QueryValueError(
            f"{what} must be a string or a list of strings, not {bad!r}"
            + ("; drop the missing values first (.dropna())" if values is not None and _missing(bad) else ""))
    return values


def _share_levels(value: Any) -> list[str] | None:
    """Share levels are lowercase on the server and in the archive; upstream lowercases the
    one a job is submitted with, and so does this filter (a level it does not know is kept
    as given: the archive keeps whatever the server sent)."""
    levels = _as_list(value, "share_level")
    return None if levels is None else [
        v.lower() if v.lower() in SHARE_LEVELS else v for v in levels]


_DATE_OFFSET = re.compile(r"\d{4}-\d\d-\d\d[+-]\d\d(:?\d\d)?")  # a date alone, then an offset
# A fraction of a second with digits past the microseconds (datetime keeps six, truncating).
_SUB_US = re.compile(r"\d[.,]\d{6}(\d+)")


def to_utc_us(value: Any, what: str, *, round_up: bool = False) -> int | None:
    """A datetime, date, ISO string, Timestamp or numpy datetime64 -> µs since the epoch
    (UTC). Naive values (and dates, at midnight) are local time, as in IBMQBackend.jobs();
    a string may end in " UTC" (as the command line prints dates).

    A value finer than a microsecond (a Timestamp's nanoseconds, an ISO string with more
    than six fraction digits) is truncated, or rounded up with ``round_up`` (a start bound:
    truncating it would take in a job created just before the bound).
    """
    if value is None:
        return None
    extra = False  # whether a part finer than a microsecond was cut off
    if isinstance(value, str):
        text = value.strip()
        utc = text[-4:].upper() == " UTC"  # as `jobarchive ls` and `show` print dates
        if utc:
            text = text[:-4].rstrip()
        if _DATE_OFFSET.fullmatch(text):
            # fromisoformat reads "2021-03-01+05:00" as 05:00 local time: midnight at +05:00
            text = f"{text[:10]}T00:00{text[10:]}"
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise QueryValueError(f"{what}={value.strip()!r} is not an ISO-8601 date; write e.g. '2021-03-01', "
                                  "'2021-03-01T14:30:00' (local time) or '2021-03-01T14:30:00+00:00'") from None
        if utc and value.utcoffset() is None:
            value = value.replace(tzinfo=UTC)
        sub = _SUB_US.search(text)
        extra = bool(sub and sub.group(1).strip("0"))
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    if value is pd.NaT:
        raise QueryValueError(f"{what} must be a date, not NaT (leave it None for no bound)")
    if isinstance(value, pd.Timestamp):
        extra = value.nanosecond != 0
        value = value.to_pydatetime(warn=False)
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, time())  # midnight, local, like "YYYY-MM-DD"
    if not isinstance(value, datetime):
        raise QueryValueError(f"{what} must be a datetime or an ISO-8601 string, not {value!r}")
    if value.utcoffset() is None:  # naive (or a tzinfo without an offset) means local time
        try:
            value = value.astimezone()
        except (OverflowError, ValueError, OSError):
            # Years 1 and 9999 can be beyond what the local-time conversion handles: the
            # zone's present offset then (such a bound is before or after every job anyway).
            value = value.replace(tzinfo=datetime.now().astimezone().tzinfo)
    # Exact integer arithmetic, which (unlike astimezone(UTC)) never leaves datetime's range.
    return (value - _EPOCH) // _ONE_US + (1 if round_up and extra else 0)


# LoopBack (the server's filter layer) reads a regexp string written "/body/flags" as a
# JavaScript RegExp literal: job_name="/bell/i" matches "Bell" on the server.
_REGEX_LITERAL = re.compile(r"/(.*)/([a-z]*)", re.S)
_REGEX_FLAGS = {"i": "i", "m": "m", "s": "s", "g": "", "u": ""}  # g and u change no match


def name_pattern(job_name: str) -> str:
    """The Python regex of a job_name filter (a "/body/flags" literal as the server reads it)."""
    literal = _REGEX_LITERAL.fullmatch(job_name)
    if not literal:
        return job_name
    body, flags = literal.groups()
    unknown = sorted(set(flags) - set(_REGEX_FLAGS))
    if unknown:
        raise QueryValueError(
            f"job_name {job_name!r} has unknown regular-expression flags {''.join(unknown)!r}; "
            "the server knows i, m, s, g and u")
    inline = "".join(dict.fromkeys(_REGEX_FLAGS[f] for f in flags))
    return f"(?{inline}:{body})" if inline else body


_PATTERN_FLAGS = ((re.IGNORECASE, "i"), (re.MULTILINE, "m"), (re.DOTALL, "s"), (re.VERBOSE, "x"),
                  (re.ASCII, "a"))


def _pattern_text(pattern: re.Pattern[str]) -> str:
    """A compiled regex as pattern text with its flags inline (``re.compile("bell", re.I)``)."""
    letters = "".join(letter for flag, letter in _PATTERN_FLAGS if pattern.flags & flag)
    if not letters:
        return pattern.pattern
    end = "\n)" if "x" in letters else ")"  # a verbose pattern's last comment ends at a newline
    return f"(?{letters}:{pattern.pattern}{end}"


def _statuses(status: Any) -> list[str]:
    values = _values(status)
    if values is None:
        values = [status]
    out = []
    for value in values:
        try:
            out.append(parse_job_status(value).name)
        except ValueError as err:
            message = str(err)
            if isinstance(value, str) and value.upper() in API_TO_JOB_STATUS:
                job_status = API_TO_JOB_STATUS[value.upper()].name
                message += (f'. "{value}" is a server status (the api_status column): pass '
                            f'status="{job_status}", which covers it, or select '
                            f'df[df.api_status == "{value.upper()}"] from the result')
            raise QueryValueError(message) from None
    return list(dict.fromkeys(out))


def _count(value: Any, name: str) -> int | None:
    if value is None:
        return None
    try:
        number = None if isinstance(value, bool) else operator.index(value)  # int, numpy ints
    except TypeError:
        number = None
    if number is None or not 0 <= number <= _SQLITE_MAX_INT:
        raise QueryValueError(f"{name} must be an integer from 0 to {_SQLITE_MAX_INT}, not {value!r}")
    return number


def build_filter(
    status: Any = None,
    job_name: str | None = None,
    start_datetime: Any = None,
    end_datetime: Any = None,
    job_tags: Any = None,
    job_tags_operator: str = "OR",
    share_level: Any = None,
    run_mode: Any = None,
    backend_name: Any = None,
    limit: int | None = None,
    skip: int = 0,
    descending: bool = True,
    job_ids: Sequence[str] | None = None,
    experiment_id: Any = None,
) -> JobFilter:
    """Validate query arguments into a ``JobFilter``; ``QueryValueError`` names the bad one.

    ``limit`` None or 0 means no limit, as in ``IBMQBackend.jobs()`` (reference section 6).
    """
    # Falsy values are no filter, as upstream's `if status:` / `if job_name:` ... make them.
    statuses = None if _empty(status) else _statuses(status)
    name_regex = None
    if isinstance(job_name, re.Pattern) and isinstance(job_name.pattern, str):
        job_name = _pattern_text(job_name)
    if job_name is not None and not isinstance(job_name, str):
        raise QueryValueError(f"job_name must be a regular expression string, not {job_name!r}")
    if job_name:
        name_regex = name_pattern(job_name)
        try:
            re.compile(name_regex)
        except (re.error, RecursionError, OverflowError) as err:
            raise QueryValueError(f"job_name {job_name!r} is not a valid regular expression: {err}") from None
    if not isinstance(job_tags_operator, str) or job_tags_operator.upper() not in ("AND", "OR"):
        raise QueryValueError(
            f'"{job_tags_operator}" is not a valid job_tags_operator value. '
            'Valid values are "AND" and "OR"'
        )
    tags = None if job_tags is None else _values(job_tags)
    if job_tags is not None and (tags is None or not all(isinstance(t, str) for t in tags)):
        hint = f"; for one tag pass [{job_tags!r}]" if isinstance(job_tags, str) else ""
        raise QueryValueError(f"job_tags needs to be a list or strings. Got {job_tags!r}{hint}")
    limit = _count(limit, "limit")
    skip = _count(skip, "skip")
    if descending is not None and not isinstance(descending, bool | int | np.bool_):  # "False" is truthy
        raise QueryValueError(f"descending must be True or False, not {descending!r}")
    start_us = to_utc_us(start_datetime, "start_datetime", round_up=True)
    end_us = to_utc_us(end_datetime, "end_datetime")
    return JobFilter(
        statuses=statuses,
        name_regex=name_regex,
        start_us=start_us,
        end_us=end_us,
        tags=tags,
        tags_all=job_tags_operator.upper() == "AND",
        share_levels=_share_levels(share_level),
        run_modes=_as_list(run_mode, "run_mode"),
        backend_names=_as_list(backend_name, "backend_name"),
        experiment_ids=_as_list(experiment_id, "experiment_id"),
        job_ids=list(job_ids) if job_ids is not None else None,
        limit=limit or None,  # 0 is "no limit" upstream, not "no rows"
        skip=skip or 0,
        descending=bool(descending),
    )


_STRING = pd.StringDtype()


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector during bulk work: hundreds of thousands of small
    tuples, dicts and lists (none of them cycles) set off collections that walk every live
    object again and again (two thirds of ``to_frame`` for 200,000 jobs, 14% of
    ``Archive.add_many`` at 100,000)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def to_frame(rows: Sequence[tuple]) -> pd.DataFrame:
    """Index rows (``QUERY_COLUMNS``) -> the documented DataFrame, same dtypes when empty."""
    with gc_paused():
        return _to_frame(rows)


def _to_frame(rows: Sequence[tuple]) -> pd.DataFrame:
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(QUERY_COLUMNS)
    data = dict(zip(QUERY_COLUMNS, columns, strict=True))
    out: dict[str, Any] = {}
    ids = data["job_id"]
    # Columns are converted whole by pyarrow/numpy: per-value conversion in pandas took
    # about 40% of a 10,000-row query (bench/query.py). A value of the wrong type (an index
    # edited outside jobarchive) is NA for its job, with a warning, instead of an error of
    # every query of the archive.
    for name in FRAME_COLUMNS:
        if name == "creation_date":
            # Microsecond resolution whatever the pandas version (nanoseconds overflow before
            # 1677 and after 2262, and pandas 2 makes nanoseconds of a unit="us" conversion).
            try:
                micros = np.asarray(data["creation_us"], dtype="int64")
            except (TypeError, ValueError, OverflowError):
                micros = np.asarray(_checked(ids, data["creation_us"], name, _is_int64, _NAT),
                                    dtype="int64")
            micros = micros.view("datetime64[us]")
            out[name] = pd.DatetimeIndex(micros).tz_localize(UTC)
        elif name == "tags":
            out[name] = pd.Series(_tag_lists(ids, data["tags"]), dtype=object)
        elif name in ("num_experiments", "shots"):
            try:
                ints = pa.array(data[name], pa.int64())
            except (pa.ArrowException, TypeError, ValueError, OverflowError):
                ints = pa.array(_checked(ids, data[name], name,
                                         lambda v: v is None or _is_int64(v), None), pa.int64())
            out[name] = pd.arrays.IntegerArray(ints.fill_null(0).to_numpy(),
                                               ints.is_null().to_numpy(zero_copy_only=False))
        elif name == "has_result":
            out[name] = np.asarray(data[name], dtype=bool)
        else:
            try:
                strings = pa.array(data[name], pa.string())
            except (pa.ArrowException, TypeError, ValueError):
                strings = pa.array(_checked(ids, data[name], name,
                                            lambda v: v is None or type(v) is str, None),
                                   pa.string())
            out[name] = pd.array(strings, dtype=_STRING)
    return pd.DataFrame(out, columns=list(FRAME_COLUMNS))


_NAT = np.iinfo(np.int64).min  # NaT as a datetime64's integer


def _is_int64(value: Any) -> bool:
    return type(value) is int and -(2**63) < value < 2**63


def _checked(job_ids: Sequence[str], values: Sequence[Any], column: str,
             valid: Any, missing: Any) -> list[Any]:
    """``values`` with each one ``valid`` refuses replaced by ``missing``, and a warning
    naming the jobs (only when some are refused)."""
    bad = [job_id for job_id, v in zip(job_ids, values, strict=True) if not valid(v)]
    if not bad:
        return list(values)
    _warn_damaged(bad, f"a {column} of the wrong type", "missing (NA)")
    return [v if valid(v) else missing for v in values]


def _warn_damaged(bad: list[str], what: str, shown: str) -> None:
    warnings.warn(f"{len(bad)} job(s) have {what} in the index (e.g. {bad[0]!r}): shown as "
                  f"{shown} here. jobarchive audit names them (edited outside jobarchive?)",
                  stacklevel=6)


def _tag_lists(job_ids: Sequence[str], texts: Sequence[str]) -> list[Any]:
    """The tags column: one parse of all the JSON lists. A value edited outside jobarchive
    (not a JSON list) is None for its job, with a warning naming it, rather than an opaque
    JSONDecodeError out of every query of the archive."""
    try:
        lists = orjson.loads("[" + ",".join(texts) + "]")
        if len(lists) == len(texts) and all(type(t) is list for t in lists):
            return lists
    except (orjson.JSONDecodeError, TypeError):
        pass
    lists, bad = [], []
    for job_id, text in zip(job_ids, texts, strict=True):
        try:
            value = orjson.loads(text)
        except (orjson.JSONDecodeError, TypeError):
            value = None
        if type(value) is not list:
            value = None
            bad.append(job_id)
        lists.append(value)
    _warn_damaged(bad, "tags that are not a JSON list", "None")
    return lists


def job_ids_of(selection: Any) -> list[str] | None:
    """Job ids from a list, a single id, a Series/Index, or a DataFrame with a ``job_id``
    column (or indexed by ``job_id``, as after ``set_index("job_id")``), or the job of one
    row of such a frame (``df.iloc[i]``, a row of ``iterrows()`` or ``itertuples()``)."""
    if selection is None:
        return None
    if isinstance(selection, str):
        return [selection]
    # A row holds the job's other values too (name, tags, NA cells): only job_id is an id.
    if isinstance(selection, pd.Series) and selection.name != "job_id" and "job_id" in selection.index:
        selection = [selection["job_id"]]
    elif isinstance(selection, tuple) and "job_id" in getattr(selection, "_fields", ()):
        selection = [selection.job_id]
    if isinstance(selection, pd.DataFrame):
        if "job_id" in selection.columns:
            selection = selection["job_id"]
        elif "job_id" in selection.index.names:
            selection = selection.index.get_level_values("job_id")
        else:
            raise QueryValueError("the DataFrame has no job_id column; pass Archive.query() output")
    ids = list(selection)
    missing = sum(1 for j in ids if _missing(j))
    if missing:
        raise QueryValueError(f"the job ids include {missing} missing value(s) (NA); drop them first (.dropna())")
    return [str(j) for j in ids]


__all__ = ["FRAME_COLUMNS", "JobStatus", "build_filter", "job_ids_of", "name_pattern", "to_frame",
           "to_utc_us"]
