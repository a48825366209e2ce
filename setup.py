"""Which packages ``pip install .`` installs; everything else is in pyproject.toml.

Every package under maggot/ is found, so a new subpackage is installed without
touching this file. The hooks/ folder installs as ``maggot_hooks`` (package-dir in
pyproject.toml): a top-level ``hooks`` package would shadow users' own modules of
that name. Discovery declared in pyproject.toml cannot rename a folder, hence this
file.
"""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["maggot", "maggot.*"]), "maggot_hooks"])
