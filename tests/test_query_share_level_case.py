"""query(share_level=...) takes a share level in any case, as upstream's job_share_level
(``ApiJobShareLevel(level.lower())``) and the command line's --share-level do."""

from __future__ import annotations


def test_share_level_in_another_case_finds_the_jobs(arc):
    """share_level="Project" found no job (0 rows, no warning) though 'project' finds them:
    an analysis reported no project-shared jobs."""
    arc.add_many([{"job_id": f"j{i}", "creation_date": f"2021-01-0{i + 1}T00:00:00Z",
                   "status": "COMPLETED", "share_level": level}
                  for i, level in enumerate(["project", "project", "hub", "none"])])
    assert set(arc.query(share_level="Project")["job_id"]) == {"j0", "j1"}
    assert set(arc.query(share_level=["HUB", "None"])["job_id"]) == {"j2", "j3"}
    assert arc.query(share_level="nonsense").empty  # an unknown level is matched as given
