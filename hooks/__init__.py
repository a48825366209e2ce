"""pre-commit hooks that keep maggot run directories and secrets out of commits."""
