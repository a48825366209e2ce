"""A training loop that logs curves, saves checkpoints, and continues after being killed.

    python examples/resumable_training.py --epochs 30 --lr 0.2
    # kill it part-way (Ctrl-C, kill -9, a preempted node), then continue the same run:
    python examples/resumable_training.py --resume experiments/30-0.2

Each epoch logs `loss` and `val.accuracy` with exp.log_metric (curves in
`maggot show` and `maggot report`) and writes a checkpoint into the run's
registered `checkpoints/` directory. With --resume the run is reopened with
Experiment(resume_from=...): same config, same directory, a new entry in
run.json, training continues after the last checkpoint and logs the next
epochs as the next steps of the same curves. Shuffling is seeded per epoch,
so a run killed and resumed ends with the same weights as one never stopped.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import time

from maggot import Experiment


def make_data(seed: int, size: int = 300) -> list[tuple[float, float, int]]:
    rng = random.Random(seed)
    points = []
    for _ in range(size):
        label = int(rng.random() < 0.5)
        center = 1.0 if label else -1.0
        points.append((rng.gauss(center, 1.2), rng.gauss(-center * 0.5, 1.2), label))
    return points


def sigmoid(value: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(value, 30.0), -30.0)))


def run_epoch(weights: list[float], data: list[tuple[float, float, int]], lr: float) -> float:
    """One pass of stochastic gradient descent; the mean log loss over the pass."""
    loss = 0.0
    for x1, x2, label in data:
        prediction = sigmoid(weights[0] + weights[1] * x1 + weights[2] * x2)
        for index, feature in enumerate((1.0, x1, x2)):
            weights[index] -= lr * (prediction - label) * feature
        loss -= math.log(max(prediction if label else 1.0 - prediction, 1e-12))
    return loss / len(data)


def run_loss(weights: list[float], data: list[tuple[float, float, int]]) -> float:
    """The mean log loss of ``weights`` over ``data``, without training."""
    total = 0.0
    for x1, x2, label in data:
        prediction = sigmoid(weights[0] + weights[1] * x1 + weights[2] * x2)
        total -= math.log(max(prediction if label else 1.0 - prediction, 1e-12))
    return total / len(data)


def accuracy(weights: list[float], data: list[tuple[float, float, int]]) -> float:
    correct = sum(
        (sigmoid(weights[0] + weights[1] * x1 + weights[2] * x2) > 0.5) == bool(label)
        for x1, x2, label in data
    )
    return correct / len(data)


def save_checkpoint(directory: str, epoch: int, weights: list[float], keep: int = 3) -> None:
    """Write epoch's checkpoint atomically (a kill never leaves half a file); keep the last few."""
    path = os.path.join(directory, f"epoch-{epoch:04d}.json")
    with open(path + ".tmp", "w") as file:
        json.dump({"epoch": epoch, "weights": weights}, file)
    os.replace(path + ".tmp", path)
    old = os.path.join(directory, f"epoch-{epoch - keep:04d}.json")
    if os.path.exists(old):
        os.remove(old)


def last_checkpoint(directory: str) -> tuple[int, list[float]]:
    """The latest epoch saved and its weights; (-1, zeros) when there is none."""
    names = sorted(name for name in os.listdir(directory) if name.endswith(".json"))
    if not names:
        return -1, [0.0, 0.0, 0.0]
    with open(os.path.join(directory, names[-1])) as file:
        checkpoint = json.load(file)
    return checkpoint["epoch"], checkpoint["weights"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--resume", metavar="RUN", help="continue this run from its last checkpoint"
    )
    parser.add_argument(
        "--epoch-seconds",
        type=float,
        default=0.2,
        help="pause per epoch, standing in for real work (time to kill it part-way)",
    )
    args = parser.parse_args()

    if args.resume:
        experiment = Experiment(resume_from=args.resume)
    else:
        config = {"train": {"epochs": args.epochs, "lr": args.lr, "_seed": args.seed}}
        experiment = Experiment(config=config, if_exists_mode="exit")
    with experiment as exp:
        # register_directory creates it the first time and finds it again on resume
        checkpoints = exp.register_directory("checkpoints")
        done, weights = last_checkpoint(checkpoints)
        if done >= 0:
            print(f"resuming after epoch {done} from {checkpoints}")
        data = make_data(exp.config.train._seed)
        train_set, val_set = data[:225], data[225:]
        for epoch in range(done + 1, exp.config.train.epochs):
            # the same shuffle for an epoch whether or not the run was resumed
            shuffled = train_set[:]
            random.Random(exp.config.train._seed * 100_003 + epoch).shuffle(shuffled)
            loss = run_epoch(weights, shuffled, exp.config.train.lr)
            save_checkpoint(checkpoints, epoch, weights)
            # logged after the checkpoint: no point on a curve is ever ahead of the weights
            exp.log_metrics(
                {"loss": loss, "val": {"accuracy": accuracy(weights, val_set)}}, step=epoch
            )
            print(f"epoch {epoch}: loss {loss:.4f} (checkpoint saved)", flush=True)
            time.sleep(args.epoch_seconds)
        exp.register_result("val.accuracy", accuracy(weights, val_set))
        exp.register_result("train.loss", run_loss(weights, train_set))
        print(f"done: validation accuracy {accuracy(weights, val_set):.4f}")


if __name__ == "__main__":
    main()
