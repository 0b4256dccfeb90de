"""Query filters (validated the way ``IBMQBackend.jobs()`` validates them) and DataFrames.

The filtering itself happens in SQLite (``store.index.JobFilter``); this module only turns
user arguments into a filter and rows into a typed DataFrame.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa

from .exceptions import QueryValueError
from .status import JobStatus, parse_job_status
from .store.index import QUERY_COLUMNS, JobFilter

STRING_COLUMNS = ("job_id", "name", "backend_name", "status", "api_status", "share_level",
                  "run_mode", "kind", "experiment_id", "client_version")
FRAME_COLUMNS = ("job_id", "name", "backend_name", "status", "api_status", "creation_date",
                 "tags", "share_level", "run_mode", "kind", "experiment_id", "client_version",
                 "num_experiments", "shots", "has_result")


_SQLITE_MAX_INT = 2**63 - 1  # LIMIT/OFFSET are bound as SQLite's signed 64-bit integers
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


def _as_list(value: Any, what: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence | set | frozenset | pd.Series | np.ndarray) and all(
            isinstance(v, str) for v in value):
        return list(value)
    raise QueryValueError(f"{what} must be a string or a list of strings, not {value!r}")


def to_utc_us(value: Any, what: str) -> int | None:
    """A datetime (naive = local time, as in IBMQBackend.jobs()), ISO string or Timestamp -> µs."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise QueryValueError(f"{what}={value!r} is not an ISO-8601 date") from None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if not isinstance(value, datetime):
        raise QueryValueError(f"{what} must be a datetime or an ISO-8601 string, not {value!r}")
    if value.tzinfo is None:  # naive means local time
        try:
            value = value.astimezone()
        except (OverflowError, ValueError, OSError):
            # Years 1 and 9999 can be beyond what the local-time conversion handles: the
            # zone's present offset then (such a bound is before or after every job anyway).
            value = value.replace(tzinfo=datetime.now().astimezone().tzinfo)
    # Exact integer arithmetic, which (unlike astimezone(UTC)) never leaves datetime's range.
    return (value - _EPOCH) // _ONE_US


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
) -> JobFilter:
    """Validate query arguments into a ``JobFilter``; ``QueryValueError`` names the bad one.

    ``limit`` None or 0 means no limit, as in ``IBMQBackend.jobs()`` (reference section 6).
    """
    statuses = None
    if status is not None:
        values = status if isinstance(status, list | tuple | set) else [status]
        try:
            statuses = list(dict.fromkeys(parse_job_status(s).name for s in values))
        except ValueError as err:
            raise QueryValueError(str(err)) from None
    if job_name is not None:
        if not isinstance(job_name, str):
            raise QueryValueError(f"job_name must be a regular expression string, not {job_name!r}")
        try:
            re.compile(job_name)
        except re.error as err:
            raise QueryValueError(f"job_name {job_name!r} is not a valid regular expression: {err}") from None
    if not isinstance(job_tags_operator, str) or job_tags_operator.upper() not in ("AND", "OR"):
        raise QueryValueError(
            f'"{job_tags_operator}" is not a valid job_tags_operator value. '
            'Valid values are "AND" and "OR"'
        )
    if job_tags is not None and (not isinstance(job_tags, list | tuple)
                                 or not all(isinstance(t, str) for t in job_tags)):
        raise QueryValueError("job_tags needs to be a list or strings.")
    for name, value in (("limit", limit), ("skip", skip)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or not 0 <= value <= _SQLITE_MAX_INT):
            raise QueryValueError(
                f"{name} must be an integer from 0 to {_SQLITE_MAX_INT}, not {value!r}")
    start_us = to_utc_us(start_datetime, "start_datetime")
    end_us = to_utc_us(end_datetime, "end_datetime")
    return JobFilter(
        statuses=statuses,
        name_regex=job_name,
        start_us=start_us,
        end_us=end_us,
        tags=list(job_tags) if job_tags is not None else None,
        tags_all=job_tags_operator.upper() == "AND",
        share_levels=_as_list(share_level, "share_level"),
        run_modes=_as_list(run_mode, "run_mode"),
        backend_names=_as_list(backend_name, "backend_name"),
        job_ids=list(job_ids) if job_ids is not None else None,
        limit=limit or None,  # 0 is "no limit" upstream, not "no rows"
        skip=skip or 0,
        descending=bool(descending),
    )


_STRING = pd.StringDtype()


def to_frame(rows: Sequence[tuple]) -> pd.DataFrame:
    """Index rows (``QUERY_COLUMNS``) -> the documented DataFrame, same dtypes when empty."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(QUERY_COLUMNS)
    data = dict(zip(QUERY_COLUMNS, columns, strict=True))
    out: dict[str, Any] = {}
    # Columns are converted whole by pyarrow/numpy: per-value conversion in pandas took
    # about 40% of a 10,000-row query (bench/query.py).
    for name in FRAME_COLUMNS:
        if name == "creation_date":
            out[name] = pd.to_datetime(np.asarray(data["creation_us"], dtype="int64"),
                                       unit="us", utc=True)
        elif name == "tags":  # one parse of all the JSON lists
            out[name] = pd.Series(orjson.loads("[" + ",".join(data["tags"]) + "]"), dtype=object)
        elif name in ("num_experiments", "shots"):
            ints = pa.array(data[name], pa.int64())
            out[name] = pd.arrays.IntegerArray(ints.fill_null(0).to_numpy(),
                                               ints.is_null().to_numpy(zero_copy_only=False))
        elif name == "has_result":
            out[name] = np.asarray(data[name], dtype=bool)
        else:
            out[name] = pd.array(pa.array(data[name], pa.string()), dtype=_STRING)
    return pd.DataFrame(out, columns=list(FRAME_COLUMNS))


def job_ids_of(selection: Any) -> list[str] | None:
    """Job ids from a list, a single id, or a DataFrame/Series with a ``job_id`` column."""
    if selection is None:
        return None
    if isinstance(selection, str):
        return [selection]
    if isinstance(selection, pd.DataFrame):
        if "job_id" not in selection.columns:
            raise QueryValueError("the DataFrame has no job_id column; pass Archive.query() output")
        return [str(j) for j in selection["job_id"]]
    return [str(j) for j in selection]


__all__ = ["FRAME_COLUMNS", "JobStatus", "build_filter", "job_ids_of", "to_frame", "to_utc_us"]
