from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maggot.paths import check_recorded_path, is_within, relative_inside, safe_relative_path


@pytest.mark.parametrize("path", ["/etc/passwd", "../outside", "a/../../b", ""])
def test_unsafe_relative_paths_are_refused(path: str) -> None:
    assert not safe_relative_path(path)


@pytest.mark.parametrize("path", ["C:/x", "A:"])
def test_a_drive_letter_is_unsafe_on_windows_only(path: str) -> None:
    # on POSIX a snapshot may hold a file named "A:", and reproduce must restore it
    assert safe_relative_path(path) == (os.sep == "/")


@pytest.mark.parametrize("path", ["a", "a/b.txt", "a/.hidden", "a..b/c"])
def test_safe_relative_paths_are_accepted(path: str) -> None:
    assert safe_relative_path(path)


def test_backslash_in_a_posix_file_name_is_not_a_path_separator() -> None:
    assert safe_relative_path("\\back.txt") == (os.sep == "/")


@given(st.lists(st.sampled_from(["a", "b", "..", "."]), min_size=1, max_size=6))
def test_a_safe_path_never_leaves_its_root(parts: list[str]) -> None:
    path = "/".join(parts)
    if safe_relative_path(path):
        assert not os.path.normpath(os.path.join("root", path)).startswith("..")
        assert os.path.normpath(os.path.join("/root", path)).startswith("/root")


def test_containment_follows_symlinks(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside)
    assert is_within(str(root / "sub"), str(root))
    assert is_within(str(root), str(root))
    assert not is_within(str(root / "link" / "x"), str(root))
    assert not is_within(str(tmp_path / "root2"), str(root))


def test_relative_inside(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert relative_inside(str(tmp_path / "a" / "b"), str(tmp_path)) == "a/b"
    assert relative_inside(str(tmp_path), str(tmp_path)) == ""
    assert relative_inside(str(tmp_path), str(tmp_path / "a")) is None


def test_recorded_paths_through_a_symlinked_directory_are_refused(tmp_path: Path) -> None:
    (tmp_path / "out").symlink_to(tmp_path.parent)
    assert check_recorded_path("out/evil.py", str(tmp_path)) is not None
    assert check_recorded_path("ok/file.py", str(tmp_path)) is None
    assert check_recorded_path("a\nb", str(tmp_path)) is not None
    assert check_recorded_path(42, str(tmp_path)) is not None
