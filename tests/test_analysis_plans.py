"""Query plans of the everyday analysis queries (EXPLAIN QUERY PLAN, no timings)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from jobarchive import Archive
from jobarchive.query import build_filter
from jobarchive.store.index import QUERY_COLUMNS

BASE = datetime(2021, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def arc(tmp_path_factory):
    """4,000 jobs: "common" on half of them, "rare" on 10."""
    rng = random.Random(8)
    recs = [{"job_id": f"p{i:05d}", "creation_date": (BASE + timedelta(minutes=17 * i)).isoformat(),
             "status": "COMPLETED", "backend_name": rng.choice(["ibmq_lima", "ibmq_athens"]),
             "tags": (["common"] if i % 2 else []) + (["rare"] if i % 400 == 7 else [])}
            for i in range(4000)]
    with Archive(tmp_path_factory.mktemp("p") / "p.jobarchive") as archive:
        archive.add_many(recs, batch_size=5000)
        yield archive


def _newest(arc, tag: str, limit: int) -> list[str]:
    return list(arc.query(descending=False)
                .loc[lambda f: f["tags"].map(lambda t: tag in t)]["job_id"][::-1][:limit])


def test_newest_jobs_with_a_rare_tag_are_fetched_by_id(arc):
    plan = arc.index.explain(build_filter(job_tags=["rare"], limit=10))
    assert any("job_tags USING PRIMARY KEY" in p for p in plan), plan
    assert list(arc.query(job_tags=["rare"], limit=10)["job_id"]) == _newest(arc, "rare", 10)


def test_newest_jobs_with_a_common_tag_walk_the_date_index_and_stop(arc):
    """upstream jobs() defaults to limit=10: "the last 10 jobs tagged X" must not read every
    job tagged X."""
    plan = arc.index.explain(build_filter(job_tags=["common"], limit=10))
    assert plan[0].startswith("SCAN jobs USING INDEX jobs_creation"), plan
    assert not any("TEMP B-TREE" in p for p in plan), plan


def test_the_exists_plan_for_a_common_tag_with_a_limit_is_ordered_and_right(arc):
    """What the fix above gives, checked here so it stays a drop-in: the same rows, no sort."""
    flt = build_filter(job_tags=["common"], limit=10)
    where, params = flt.where("exists")
    sql = (f"SELECT {', '.join(QUERY_COLUMNS)} FROM jobs WHERE {where} "
           "ORDER BY creation_us DESC, job_id DESC LIMIT ? OFFSET ?")
    params = [*params, 10, 0]
    plan = [r[3] for r in arc.index.conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
    assert plan[0].startswith("SCAN jobs USING INDEX jobs_creation") and not any("TEMP B-TREE" in p for p in plan)
    rows = arc.index.conn.execute(sql, params).fetchall()
    assert [r[0] for r in rows] == list(arc.query(job_tags=["common"], limit=10)["job_id"]) == _newest(
        arc, "common", 10)
