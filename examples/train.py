"""Train a small logistic-regression model on synthetic data and record the run.

    python train.py --lr 0.5 --epochs 30 --l2 0.001

Each distinct configuration lands in its own directory, e.g.
experiments/0.001-0.5-30/ (values of model.l2, model.lr, train.epochs; `_seed`
is left out of the name).
"""

from __future__ import annotations

import argparse
import math
import random
import sys

from maggot import Experiment


def make_data(seed: int, size: int = 400) -> list[tuple[float, float, int]]:
    rng = random.Random(seed)
    points = []
    for _ in range(size):
        label = rng.random() < 0.5
        center = 1.0 if label else -1.0
        points.append((rng.gauss(center, 1.1), rng.gauss(center * 0.5, 1.1), int(label)))
    return points


def sigmoid(value: float) -> float:
    return 1.0 / (1.0 + math.exp(-value))


def train(config, data, on_epoch=None):
    weights = [0.0, 0.0, 0.0]
    split = int(len(data) * 0.75)
    train_set, test_set = data[:split], data[split:]
    loss = 0.0
    redraw = sys.stderr.isatty()
    for epoch in range(config.train.epochs):
        loss = 0.0
        for x1, x2, label in train_set:
            prediction = sigmoid(weights[0] + weights[1] * x1 + weights[2] * x2)
            error = prediction - label
            for index, feature in enumerate((1.0, x1, x2)):
                weights[index] -= config.model.lr * (
                    error * feature + config.model.l2 * weights[index]
                )
            loss -= math.log(max(prediction if label else 1 - prediction, 1e-12))
        loss /= len(train_set)
        if on_epoch is not None:
            on_epoch(epoch, loss)
        # a progress line redrawn in place, like a progress bar; the log keeps
        # its last state. Piped to a file, only the last epoch's line is written.
        if redraw or epoch + 1 == config.train.epochs:
            progress = f"epoch {epoch + 1}/{config.train.epochs} loss {loss:.4f}"
            if redraw:
                sys.stderr.write(f"\r{progress}")
            else:
                # piped, on stdout with the result: two pipes would not keep their order
                print(progress, flush=True)
    if redraw:
        sys.stderr.write("\n")
    correct = sum(
        (sigmoid(weights[0] + weights[1] * x1 + weights[2] * x2) > 0.5) == bool(label)
        for x1, x2, label in test_set
    )
    return correct / len(test_set), loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--l2", type=float, default=0.0)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--experiments-dir", default="experiments")
    args = parser.parse_args()

    config = {
        "model": {"lr": args.lr, "l2": args.l2},
        "train": {"epochs": args.epochs, "_seed": args.seed},
    }
    with Experiment(
        config=config, experiments_dir=args.experiments_dir, if_exists_mode="increment"
    ) as exp:
        # a point per epoch: a curve in `maggot show` and `maggot report`
        accuracy, loss = train(
            exp.config,
            make_data(args.seed),
            on_epoch=lambda epoch, loss: exp.log_metric("epoch_loss", loss, step=epoch),
        )
        print(f"accuracy {accuracy:.4f}  final train loss {loss:.4f}")
        exp.register_result("accuracy", round(accuracy, 6))
        exp.register_result("train.loss", round(loss, 6))


if __name__ == "__main__":
    main()
