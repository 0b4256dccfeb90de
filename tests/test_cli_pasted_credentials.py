"""A token pasted with the space or line end around it (`export QE_TOKEN="<paste> "`, a
token file saved on Windows read with $(cat token.txt)) was sent as is and refused, "Login
with the API token failed", and a new token pasted the same way failed the same; a URL with
a trailing space became .../api%20/version, "not an IBM Quantum authentication URL".
Neither a token nor a URL holds surrounding whitespace: it is dropped."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from jobarchive import Archive
from jobarchive.cli import cli
from jobarchive.emulator import Emulator


@pytest.mark.parametrize("pad", [" ", "\r", "\n", "\t "])
def test_a_token_and_url_pasted_with_whitespace_work(tmp_path, empty_home, pad):
    path = tmp_path / "lab.jobarchive"
    with Emulator(seed_jobs=3, seed=1) as emu:
        res = CliRunner().invoke(cli, ["--archive", str(path), "sync", "--no-progress"],
                                 env={"QE_TOKEN": emu.token + pad, "QE_URL": emu.url + pad})
        assert res.exit_code == 0, res.stderr
        again = CliRunner().invoke(cli, ["--archive", str(path), "sync", "--no-progress",
                                         "--url", pad + emu.url, "--token", pad + emu.token])
        assert again.exit_code == 0, again.stderr
    with Archive(path) as arc:
        assert len(arc) == 3
