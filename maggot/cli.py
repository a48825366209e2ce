"""The ``maggot`` command line."""
from __future__ import annotations

import click


@click.group()
@click.version_option(package_name="maggot")
def main() -> None:
    """Record, compare and reproduce experiment runs."""
