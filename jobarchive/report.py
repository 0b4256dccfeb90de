"""A self-contained HTML report of an archive, with plots (matplotlib, PNGs embedded).

Sections: overview tables; jobs per month by backend and by status; queue and run time
distributions from ``time_per_step``; the audit summary and, when results were reproduced,
the Hellinger fidelity distribution. The file has no external references. It is built only
from archive contents (which never hold a token) and, as a second line of defence, any
value of the token environment variables is masked before writing.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import html
import io
import os
import shutil
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .query import to_frame
from .record import parse_date
from .store.blobs import loads
from .store.index import QUERY_COLUMNS, JobFilter

if TYPE_CHECKING:
    from .archive import Archive

TOKEN_ENV_VARS = ("JOBARCHIVE_TOKEN", "QE_TOKEN", "QISKIT_IBM_TOKEN", "IBMQ_TOKEN")
_QUEUE_STARTS = ("QUEUED", "VALIDATED", "CREATED", "CREATING")
_END_STEPS = ("COMPLETED", "ERROR_RUNNING_JOB", "CANCELLED", "ERROR_VALIDATING_JOB")
_MAX_LEGEND = 10
_MAX_PERIODS = 240  # bars on a time axis
# As examples/historical_analysis.py: the success rate is the share of finished jobs that
# completed; jobs still queued or running have no outcome yet and are left out.
_FINISHED = ("DONE", "ERROR", "CANCELLED")
_SUCCESS_RATE = "success rate (done / finished)"


# The query() columns the report shows: all 15 of 10^6 jobs take 0.66 GB as a frame.
_SHOWN = ["job_id", "backend_name", "status", "creation_date", "tags", "has_result"]
_BATCH = 20_000
_BACKEND_AT = QUERY_COLUMNS.index("backend_name")


def _jobs(archive: Archive, tick: Any = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The shown columns of every job, as ``query(descending=False)`` has them, and queue and
    run seconds per job from ``time_per_step``: one pass over the index in batches (query()
    of 10^6 jobs held every row as a tuple, 1.8 GB at its peak). ``tick(n)`` after each
    batch of n jobs."""
    parts = []
    rows = []
    # Closed whatever happens: a reader left suspended would hold its snapshot (see query()).
    with contextlib.closing(archive.index.iter_select(
            JobFilter(descending=False), (*QUERY_COLUMNS, "doc"), batch=_BATCH)) as batches:
        for batch in batches:
            parts.append(to_frame([row[:-1] for row in batch])[_SHOWN])
            for row in batch:
                times = _run_times(row[0], row[-1])
                if times is not None:
                    rows.append((row[0], row[_BACKEND_AT], *times))
            if tick is not None:
                tick(len(batch))
    frame = pd.concat(parts, ignore_index=True) if parts else to_frame([])[_SHOWN]
    return frame, pd.DataFrame(rows, columns=["job_id", "backend_name", "queue_s", "run_s"])


def _run_times(job_id: str, doc: Any) -> tuple[float | None, float | None] | None:
    """Queue and run seconds of a job from its record's ``time_per_step``, or None."""
    try:
        record = loads(doc)
    except (ValueError, TypeError):  # a doc edited outside jobarchive: the audit says so
        return None
    steps = record.get("time_per_step") if isinstance(record, dict) else None
    if not isinstance(steps, dict):
        return None
    when = {}
    for step, value in steps.items():
        try:
            when[step] = parse_date(value, job_id, "time_per_step")
        except Exception:  # a malformed step date only drops this job from the plot
            continue
    running = when.get("RUNNING")
    start = next((when[s] for s in _QUEUE_STARTS if s in when), None)
    end = next((when[s] for s in _END_STEPS if s in when), None)
    queue = (running - start).total_seconds() if running and start else None
    run = (end - running).total_seconds() if running and end else None
    return None if queue is None and run is None else (queue, run)


def _writable_matplotlib_config() -> None:
    """Give matplotlib a config directory of its own when its default cannot be made (HOME
    =/dev/null, a service user without a home): it then logs 'mkdir -p failed' and 'created
    a temporary cache directory' on stderr at every import, which cron mails."""
    if "matplotlib" in sys.modules or os.environ.get("MPLCONFIGDIR"):
        return
    home = os.path.expanduser("~")
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    folder = os.path.join(config, "matplotlib")
    if os.path.isabs(folder):  # an unresolved "~" (no home at all) is not a place to create
        with contextlib.suppress(OSError):
            os.makedirs(folder, exist_ok=True)
            if os.access(folder, os.W_OK | os.X_OK):
                return
    # What matplotlib does in that case, without its warning: a private temporary directory.
    own = tempfile.mkdtemp(prefix="jobarchive-matplotlib-")
    atexit.register(shutil.rmtree, own, True)
    os.environ["MPLCONFIGDIR"] = own


def _png(fig: Any) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(width: float = 9.0, height: float = 3.6) -> Any:
    # Figure without pyplot: no global backend switch, safe in threads and servers.
    _writable_matplotlib_config()
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def _top(series: pd.Series, n: int = _MAX_LEGEND) -> pd.Series:
    """Keep the n most frequent values, fold the rest into "other"."""
    series = series.fillna("(unknown)").astype(str)
    keep = set(series.value_counts().index[:n])
    return series.where(series.isin(keep), "other")


def _period_table(frame: pd.DataFrame, column: str) -> tuple[pd.DataFrame, str]:
    """Jobs per period (rows) and value of ``column`` (columns); and the period's name.

    Months, with empty months kept on the axis; a span of more than _MAX_PERIODS months
    (one job with a far-off date is enough) goes per year, and a span of more years only
    keeps the years that have jobs: the bars stay few whatever the dates.
    """
    dates = frame["creation_date"].dt.tz_convert(None)
    values = _top(frame[column])
    for freq, label in (("M", "month"), ("Y", "year")):
        periods = dates.dt.to_period(freq)
        table = pd.crosstab(periods, values).sort_index()
        if (periods.max() - periods.min()).n < _MAX_PERIODS:
            # Periods without jobs still get their (empty) slot on the time axis.
            full = pd.period_range(periods.min(), periods.max(), freq=freq)
            return table.reindex(full, fill_value=0), label
    return table, "year"


def _per_month_plot(frame: pd.DataFrame, column: str, title: str) -> str:
    table, label = _period_table(frame, column)
    title = title.replace("per month", f"per {label}")
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    bottom = None
    labels = [str(p) for p in table.index]
    for name in table.columns:
        values = table[name].to_numpy()
        ax.bar(labels, values, bottom=bottom, label=str(name))
        bottom = values if bottom is None else bottom + values
    ax.set_title(title)
    ax.set_ylabel("jobs")
    step = max(1, len(labels) // 18)
    ax.set_xticks(range(0, len(labels), step))
    ax.set_xticklabels(labels[::step], rotation=60, ha="right", fontsize=8)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _png(fig)


def _duration_plot(durations: pd.DataFrame) -> str:
    import numpy as np

    fig = _figure(10.0, 3.6)
    for i, (column, title) in enumerate((("queue_s", "queue time"), ("run_s", "run time"))):
        ax = fig.add_subplot(1, 2, i + 1)
        values = durations[column].dropna()
        values = values[values >= 0]
        if values.empty:
            ax.text(0.5, 0.5, "no data", ha="center", va="center")
        else:
            low = max(values.min(), 0.1)
            bins = np.logspace(np.log10(low), np.log10(max(values.max(), low * 10)), 30)
            ax.hist(values.clip(lower=low), bins=bins)
            ax.set_xscale("log")
        ax.set_title(f"{title} (seconds, log scale)")
        ax.set_ylabel("jobs")
    return _png(fig)


def _fidelity_plot(fidelity: pd.Series, threshold: float | None,
                   device_threshold: float | None = None) -> str:
    fig = _figure(7.0, 3.4)
    ax = fig.add_subplot(1, 1, 1)
    ax.hist(fidelity.dropna(), bins=30, range=(0.0, 1.0))
    if threshold is not None:
        ax.axvline(threshold, color="red", linestyle="--", label=f"simulator threshold {threshold}")
    if device_threshold is not None and device_threshold != threshold:
        ax.axvline(device_threshold, color="orange", linestyle=":",
                   label=f"device threshold {device_threshold}")
    if threshold is not None or device_threshold is not None:
        ax.legend(fontsize=8)
    ax.set_title("Hellinger fidelity of reproduced results (BasicSimulator vs stored)")
    ax.set_xlabel("fidelity")
    ax.set_ylabel("jobs")
    return _png(fig)


def _number(value: float) -> str:
    # Four significant digits, but never an exponent: a queue of two days is 172,800 s.
    return f"{value:,.0f}" if abs(value) >= 1e4 else f"{value:.4g}"


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(border=0, classes="t", escape=True, na_rep="", float_format=_number)


def _img(b64: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def _summaries(frame: pd.DataFrame, durations: pd.DataFrame,
               audit: pd.DataFrame | None = None) -> list[tuple[str, str]]:
    out = []
    # A result whose blob the audit found missing or damaged cannot be read: the index's
    # has_result still says it is there, the report must not.
    lost = pd.Series(False, index=frame.index)
    if audit is not None and {"job_id", "blob_ok"} <= set(audit.columns):
        unreadable = audit.loc[~audit["blob_ok"].astype(bool), "job_id"]
        lost = frame["has_result"] & frame["job_id"].isin(set(unreadable))
    frame = frame.assign(_readable=frame["has_result"] & ~lost, _lost=lost)
    by_status = frame["status"].fillna("(unknown)").value_counts().rename("jobs").to_frame()
    out.append(("Jobs by status", _table(by_status)))
    grouped = frame.assign(backend_name=frame["backend_name"].fillna("(unknown)")).groupby(
        "backend_name")
    per_backend = pd.DataFrame({
        "jobs": grouped.size(),
        "done": grouped["status"].apply(lambda s: int((s == "DONE").sum())),
        "error": grouped["status"].apply(lambda s: int((s == "ERROR").sum())),
        "cancelled": grouped["status"].apply(lambda s: int((s == "CANCELLED").sum())),
        "with result": grouped["_readable"].sum().astype(int),
        "first": grouped["creation_date"].min().dt.strftime("%Y-%m-%d"),
        "last": grouped["creation_date"].max().dt.strftime("%Y-%m-%d"),
    })
    if lost.any():
        per_backend.insert(per_backend.columns.get_loc("with result") + 1, "result lost",
                           grouped["_lost"].sum().astype(int))
    finished = per_backend[["done", "error", "cancelled"]].sum(axis=1)
    # No finished job yet: no rate (an empty cell), rather than 0.
    per_backend[_SUCCESS_RATE] = (per_backend["done"] / finished.where(finished > 0)).round(3)
    if not durations.empty:
        medians = durations.groupby(durations["backend_name"].fillna("(unknown)"))[
            ["queue_s", "run_s"]].median().rename(
            columns={"queue_s": "median queue s", "run_s": "median run s"})
        per_backend = per_backend.join(medians)
    out.append(("Jobs by backend", _table(per_backend.sort_values("jobs", ascending=False))
                + "<p>Success rate: done / finished, finished = "
                + " + ".join(_FINISHED) + "; jobs not yet final are left out.</p>"
                + (f"<p class='bad'>{int(lost.sum())} results are lost: their blob is missing or "
                   "damaged (see Audit); 'with result' counts the results the archive can still "
                   "read.</p>" if lost.any() else "")))
    tags = frame["tags"].explode().dropna()
    if len(tags):
        out.append(("Most used tags", _table(_tag_jobs(tags).head(15).to_frame())))
    return out


def _tag_jobs(tags: pd.Series) -> pd.Series:
    """Jobs per tag, most used first, of an exploded tags column (index: the job's row). A
    job submitted with a tag twice (the server keeps tags as sent) is one job of it."""
    import numpy as np

    codes, names = pd.factorize(tags.to_numpy())
    # One integer per (job, tag): 3 x 10^6 pairs in ~1 s, where drop_duplicates of the
    # two columns took 10 s.
    once = ~pd.Index(tags.index.to_numpy(np.int64) * len(names) + codes).duplicated()
    jobs = pd.Series(np.bincount(codes[once], minlength=len(names)),
                     index=pd.Index(names, name="tags"), name="jobs")
    return jobs.sort_values(ascending=False, kind="stable")


def _findings(audit: pd.DataFrame) -> list[str]:
    """The audit's informational findings (a DONE job without its result or qobj, a backend
    or client version not recorded, a device's noise): how many jobs each, and the first
    jobs. They are not storage problems, but they are what a reproducibility audit asks."""
    if "notes" not in audit:
        return []
    notes = audit["notes"].fillna("")
    noted = notes != ""
    if not noted.any():
        return []
    from .audit import note_kind_counts

    table = note_kind_counts(notes[noted]).rename("jobs").rename_axis("finding").to_frame()
    columns = [c for c in ("job_id", "status", "backend_name", "notes") if c in audit]
    count = int(noted.sum())
    return ["<h3>Reproducibility findings</h3>",
            f"<p>{count} jobs have findings that are not storage problems but limit what "
            "can be said about how they ran:</p>", _table(table),
            f"<p>First {min(count, 50)}:</p>",
            _table(audit.loc[noted[noted].index[:50], columns].reset_index(drop=True))]


def _mask_tokens(text: str, extra: list[str]) -> str:
    for secret in [os.environ.get(v, "") for v in TOKEN_ENV_VARS] + list(extra):
        if secret and len(secret) >= 8:
            text = text.replace(secret, "***").replace(html.escape(secret), "***")
    return text


def write_report(
    archive: Archive,
    path: str | os.PathLike[str],
    *,
    audit: pd.DataFrame | None = None,
    reproduce: bool = False,
    title: str | None = None,
    redact: list[str] | None = None,
    **audit_options: Any,
) -> Path:
    """Write a self-contained HTML report of ``archive`` to ``path``; returns the path.

    ``path``: a file, or a directory (existing, or spelled with a trailing ``/``) to write
    ``report.html`` into.

    ``audit``: an ``audit()`` frame to summarize (with its fidelity histogram if it was
    reproduced); otherwise ``reproduce=True`` runs ``audit(reproduce=True, **audit_options)``
    and a plain integrity audit runs by default. ``redact``: extra strings to mask.
    ``progress=True`` (an audit option) also shows a bar for the pass over the run times.
    """
    target = Path(path)
    # An existing directory, or a path written as one ("reports/"): the report goes inside.
    if target.is_dir() or os.fspath(path).endswith(("/", os.sep)):
        target = target / "report.html"
    from tqdm import tqdm

    if audit is None:
        options = {"progress": False, **audit_options}
        audit = archive.audit(reproduce=True, **options) if reproduce else archive.audit(**options)
    # Every record is read (20 s for 10^6 jobs), after the audit: its peak of memory is
    # then not on top of this frame.
    with tqdm(total=len(archive), desc="report: run times", unit="job", leave=False,
              disable=not audit_options.get("progress", False)) as bar:
        frame, durations = _jobs(archive, bar.update)
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    heading = title or f"jobarchive report: {archive.path.name}"

    parts: list[str] = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(heading)}</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}"
        "table.t{border-collapse:collapse;font-size:13px}"
        "table.t td,table.t th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}"
        "img{max-width:100%;margin:0.5em 0}.bad{color:#b00}</style></head><body>",
        f"<h1>{html.escape(heading)}</h1>",
        f"<p>Generated {now} from <code>{html.escape(str(archive.path))}</code>: "
        f"{len(frame)} jobs.</p>",
    ]
    # A creation date edited outside jobarchive reads as NaT (query() warns, the audit names
    # the job): such jobs are counted, but have no place on a time axis.
    dated = frame[frame["creation_date"].notna()]
    if len(frame):
        if len(dated):
            first = dated["creation_date"].min().strftime("%Y-%m-%d")
            last = dated["creation_date"].max().strftime("%Y-%m-%d")
            parts.append(f"<p>Jobs created from {first} to {last}"
                         + (f" ({len(frame) - len(dated)} jobs without a readable date)"
                            if len(dated) < len(frame) else "") + ".</p>")
        for name, table in _summaries(frame, durations, audit):
            parts.append(f"<h2>{html.escape(name)}</h2>{table}")
    if len(dated):
        label = _period_table(dated, "status")[1]
        parts.append(f"<h2>Jobs per {label}</h2>")
        parts.append(_img(_per_month_plot(dated, "backend_name", "jobs per month by backend"),
                          f"jobs per {label} by backend"))
        parts.append(_img(_per_month_plot(dated, "status", "jobs per month by status"),
                          f"jobs per {label} by status"))
    if len(frame):
        parts.append("<h2>Queue and run times</h2>")
        if durations.empty:
            parts.append("<p>No job records a usable <code>time_per_step</code>.</p>")
        else:
            parts.append(f"<p>From <code>time_per_step</code> of {len(durations)} jobs: queue "
                         "time is QUEUED to RUNNING, run time RUNNING to the final step.</p>")
            parts.append(_img(_duration_plot(durations), "queue and run time distributions"))
    else:
        parts.append("<p>The archive holds no jobs yet.</p>")

    summary = dict(audit.attrs.get("summary") or {})
    parts.append("<h2>Audit</h2>")
    shown_summary = {k: v for k, v in summary.items() if v is not None}  # None: not run
    if shown_summary:
        parts.append(_table(pd.Series(shown_summary, dtype="object").rename("value").to_frame()))
    problems = audit[~audit["ok"]]
    if len(problems):
        shown = problems[[c for c in ("job_id", "backend_name", "problem", "fidelity") if c in problems]]
        parts.append(f"<p class='bad'>{len(problems)} jobs with problems"
                     f"{' (first 50)' if len(problems) > 50 else ''}:</p>")
        parts.append(_table(shown.head(50).reset_index(drop=True)))
    else:
        parts.append("<p>No problems found.</p>")
    parts += _findings(audit)
    if "fidelity" in audit and audit["fidelity"].notna().any():
        parts.append("<h2>Reproducibility</h2>")
        parts.append(_img(_fidelity_plot(audit["fidelity"], summary.get("threshold"),
                                         summary.get("device_threshold")),
                          "fidelity distribution"))
        parts.append("<p>The re-run is ideal: a simulator job should match it, a device job "
                     "differs by the device's noise, so it is flagged only below the device "
                     "threshold.</p>")
    parts.append("</body></html>")
    text = _mask_tokens("\n".join(parts), redact or [])

    try:
        _write_atomically(target, text)
    except OSError as err:  # name the report, not the temporary file it was written to
        raise OSError(err.errno, f"cannot write the report ({err.strerror or err})",
                      str(target)) from err
    return target.resolve()


def _write_atomically(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # Not mkstemp: its 0600 would make the report unreadable to the people it is for. Mode
    # 0666 filtered by the umask, as any file the user writes; O_EXCL keeps the name ours.
    tmp = target.parent / f".report-{uuid.uuid4().hex}.html"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
