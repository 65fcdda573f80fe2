"""Atomic writes: the new file complete, or the old one untouched and no temporary left."""

import os

import pytest

from lbkeras.atomic import save_atomically, write_atomically, write_text


def test_a_failed_save_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "results.json"
    write_text(str(path), "old")

    def fail(tmp):
        with open(tmp, "w") as f:
            f.write("half")
        raise RuntimeError("killed while writing")

    with pytest.raises(RuntimeError, match="killed while writing"):
        save_atomically(str(path), fail)
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["results.json"]


def test_the_temporary_ends_like_the_file_and_replaces_it(tmp_path):
    seen = []
    path = tmp_path / "model.keras"
    save_atomically(str(path), lambda tmp: (seen.append(tmp), open(tmp, "w").close()))
    assert seen[0].endswith("-model.keras") and os.path.dirname(seen[0]) == str(tmp_path)
    write_atomically(str(path), lambda f: f.write(b"\x00\x01"), binary=True)
    assert path.read_bytes() == b"\x00\x01" and os.listdir(tmp_path) == ["model.keras"]
