"""A synthetic daily series: trend, a weekly season and noise, from a seed."""

from __future__ import annotations

import math
import random


def make_series(length: int, season: int, seed: int) -> list[float]:
    """``length`` daily values with a linear trend and a season of ``season`` days."""
    rng = random.Random(seed)
    return [
        10.0 + 0.05 * day + 3.0 * math.sin(2 * math.pi * day / season) + rng.gauss(0.0, 0.5)
        for day in range(length)
    ]
