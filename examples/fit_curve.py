"""Fit a polynomial to noisy samples of a sine wave. This script knows nothing of maggot.

    python examples/fit_curve.py --degree 3 --alpha 0.01
    maggot run --metric-pattern '(?P<name>\\w+_rmse)=(?P<value>[0-9.]+)' \\
        -- python examples/fit_curve.py --degree 3 --alpha 0.01

It prints `train_rmse=...` and `test_rmse=...`; `maggot run` (or `maggot sweep`)
records the command as a run, takes its options as the config and picks those
two lines out of the output as results (--metric-pattern). Pure Python: a
ridge-regularized least-squares fit through the normal equations.
"""

from __future__ import annotations

import argparse
import math
import random


def make_data(seed: int, size: int) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    xs = [rng.uniform(-1.0, 1.0) for _ in range(size)]
    return [(x, math.sin(math.pi * x) + rng.gauss(0.0, 0.2)) for x in xs]


def solve(matrix: list[list[float]], vector: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (the system is small and well posed)."""
    size = len(vector)
    rows = [row[:] + [value] for row, value in zip(matrix, vector)]
    for column in range(size):
        pivot = max(range(column, size), key=lambda row: abs(rows[row][column]))
        rows[column], rows[pivot] = rows[pivot], rows[column]
        for row in range(column + 1, size):
            factor = rows[row][column] / rows[column][column]
            for index in range(column, size + 1):
                rows[row][index] -= factor * rows[column][index]
    solution = [0.0] * size
    for row in reversed(range(size)):
        known = sum(rows[row][index] * solution[index] for index in range(row + 1, size))
        solution[row] = (rows[row][size] - known) / rows[row][row]
    return solution


def fit(points: list[tuple[float, float]], degree: int, alpha: float) -> list[float]:
    features = [[x**power for power in range(degree + 1)] for x, _ in points]
    gram = [
        [
            sum(row[i] * row[j] for row in features) + (alpha if i == j else 0.0)
            for j in range(degree + 1)
        ]
        for i in range(degree + 1)
    ]
    moments = [sum(row[i] * y for row, (_, y) in zip(features, points)) for i in range(degree + 1)]
    return solve(gram, moments)


def rmse(coefficients: list[float], points: list[tuple[float, float]]) -> float:
    errors = [sum(c * x**power for power, c in enumerate(coefficients)) - y for x, y in points]
    return math.sqrt(sum(error * error for error in errors) / len(errors))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--degree", type=int, default=3)
    parser.add_argument("--alpha", type=float, default=0.0, help="ridge penalty")
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    data = make_data(args.seed, 2 * args.samples)
    train, test = data[: args.samples], data[args.samples :]
    coefficients = fit(train, args.degree, args.alpha)
    print(f"degree {args.degree}, alpha {args.alpha}: {len(train)} training points")
    print(f"train_rmse={rmse(coefficients, train):.4f}")
    print(f"test_rmse={rmse(coefficients, test):.4f}")


if __name__ == "__main__":
    main()
