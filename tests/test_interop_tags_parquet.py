"""query()'s tags column holds Python lists (README), which pandas' own writers handle as
lists; df.to_parquet() types them from the values, so a frame where no job has a tag is
written list<null>. The README's remedy (schema= with a list of strings) makes such a file
read back beside others, whichever is read first."""

from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from jobarchive import Archive


@pytest.fixture
def arc(tmp_path):
    with Archive(tmp_path / "t.jobarchive") as archive:
        archive.add_many([{"job_id": f"j{i}", "creation_date": f"2021-0{i + 1}-01T00:00:00Z",
                           "status": "COMPLETED", "tags": ["a", "b"] if i else []}
                          for i in range(2)])
        yield archive


def test_tags_are_python_lists_for_pandas_writers(arc):
    frame = arc.query(descending=False)
    assert frame["tags"].dtype == object and list(frame["tags"]) == [[], ["a", "b"]]
    assert frame["tags"].str.join(",").tolist() == ["", "a,b"]
    text = io.StringIO()
    frame[["job_id", "tags"]].to_csv(text, index=False)
    assert text.getvalue().splitlines()[1:] == ["j0,[]", "j1,\"['a', 'b']\""]


@pytest.mark.parametrize("first", ["untagged", "tagged"])
def test_the_readme_schema_remedy_reads_back_beside_tagged_files(arc, tmp_path, first):
    untagged = arc.query(end_datetime="2021-01-31T00:00:00Z")
    tagged = arc.query(start_datetime="2021-02-01T00:00:00Z")
    assert list(untagged["tags"]) == [[]] and list(tagged["tags"]) == [["a", "b"]]
    names = {"untagged": "0.parquet", "tagged": "1.parquet"}
    if first == "tagged":
        names = {"untagged": "1.parquet", "tagged": "0.parquet"}
    folder = tmp_path / "months"
    folder.mkdir()
    schema = pa.Schema.from_pandas(untagged, preserve_index=False)
    schema = schema.set(schema.get_field_index("tags"), pa.field("tags", pa.list_(pa.string())))
    untagged.to_parquet(folder / names["untagged"], schema=schema)
    tagged.to_parquet(folder / names["tagged"])
    assert pq.read_schema(folder / names["untagged"]).field("tags").type == pa.list_(pa.string())
    back = pd.read_parquet(folder).sort_values("job_id")
    assert [list(t) for t in back["tags"]] == [[], ["a", "b"]]
    assert ds.dataset(folder).to_table().num_rows == 2
    assert str(back["creation_date"].dtype) == "datetime64[us, UTC]"
