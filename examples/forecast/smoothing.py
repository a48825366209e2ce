"""Holt-Winters additive smoothing: level, trend and season, updated one value at a time."""

from __future__ import annotations

from collections.abc import Sequence


def forecast(
    history: Sequence[float], horizon: int, season: int, alpha: float, beta: float, gamma: float
) -> list[float]:
    """Forecast ``horizon`` values after ``history`` (at least two seasons long)."""
    if len(history) < 2 * season:
        raise ValueError(f"need at least {2 * season} values of history, got {len(history)}")
    first, second = history[:season], history[season : 2 * season]
    level = sum(first) / season
    trend = (sum(second) - sum(first)) / season**2
    seasonal = [value - level for value in first]
    for index, value in enumerate(history):
        slot = index % season
        previous_level = level
        level = alpha * (value - seasonal[slot]) + (1 - alpha) * (level + trend)
        trend = beta * (level - previous_level) + (1 - beta) * trend
        seasonal[slot] = gamma * (value - level) + (1 - gamma) * seasonal[slot]
    start = len(history)
    return [
        level + (step + 1) * trend + seasonal[(start + step) % season] for step in range(horizon)
    ]
