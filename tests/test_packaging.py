"""What ``pip install .`` puts in the wheel: every package of the source tree."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def source_packages() -> set[str]:
    """Dotted names of the folders holding an ``__init__.py``, as they install."""
    found = set()
    for folder, installed_as in (("maggot", "maggot"), ("hooks", "maggot_hooks")):
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((installed_as, *relative)))
    return found


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is new in Python 3.11")
def test_every_package_is_listed_for_installation() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    # a package missing here is left out of a regular (not editable) install
    assert source_packages() == listed
