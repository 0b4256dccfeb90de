"""Queue times on real devices run to hours and days: the report's 'Jobs by backend' table
printed a median queue of 2 days as '1.728e+05' seconds. Numbers that large are printed
whole, as they read."""

from __future__ import annotations

from test_report import _backend_table


def _job(i: int, queued_s: int, ran_s: int) -> dict:
    def at(seconds: int) -> str:
        days, rest = divmod(seconds, 86400)
        return f"2021-01-{1 + days:02d}T{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}Z"

    return {"job_id": f"job{i}", "creation_date": at(0), "status": "COMPLETED",
            "backend_name": "ibmq_manhattan",
            "time_per_step": {"CREATING": at(0), "QUEUED": at(1), "RUNNING": at(1 + queued_s),
                              "COMPLETED": at(1 + queued_s + ran_s)}}


def test_long_queue_and_run_times_are_printed_whole(arc, tmp_path):
    arc.add_many([_job(0, 2 * 86400, 12345), _job(1, 2 * 86400, 12345)])
    row = _backend_table(arc.report(tmp_path / "r.html").read_text())["ibmq_manhattan"]
    assert row["median queue s"].replace(",", "") == "172800", row
    assert row["median run s"].replace(",", "") == "12345", row
