"""An SVM on the iris data set, scored by 5-fold cross-validation, recorded by maggot.

    pip install -r examples/requirements.txt    # scikit-learn, which ships the data set
    python examples/iris_sklearn.py --C 1.0 --gamma 0.01

The run lands in experiments/5-1.0-0.01/ (crossval.n_folds, model.C,
model.gamma; the leading underscore keeps the random seed out of the name),
holding model.pkl next to maggot's own records in .maggot/.
"""

from __future__ import annotations

import argparse
import os
import pickle

from sklearn.datasets import load_iris
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.svm import SVC

from maggot import Experiment


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--C", type=float, default=1.0, help="SVM regularization parameter")
    parser.add_argument("--gamma", type=float, default=0.01, help="RBF kernel parameter")
    parser.add_argument("--cv", type=int, default=5, help="number of cross-validation folds")
    parser.add_argument("--cv_random_seed", type=int, default=42, help="seed of the fold shuffling")
    parser.add_argument(
        "--if-exists",
        default="prompt",
        choices=["prompt", "exit", "delete", "continue", "increment"],
        help="what to do when this config already has a run",
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    svm_config = {
        "model": {"C": args.C, "gamma": args.gamma},
        "crossval": {"n_folds": args.cv, "_random_seed": args.cv_random_seed},
    }
    iris = load_iris()
    with Experiment(config=svm_config, if_exists_mode=args.if_exists) as experiment:
        config = experiment.config
        model = SVC(C=config.model.C, gamma=config.model.gamma)
        folds = StratifiedKFold(
            config.crossval.n_folds, shuffle=True, random_state=config.crossval._random_seed
        )
        scores = cross_val_score(model, X=iris.data, y=iris.target, scoring="accuracy", cv=folds)
        print("Accuracy is", round(scores.mean(), 4))
        experiment.register_result("accuracy", float(scores.mean()))
        experiment.register_result("accuracy_std", float(scores.std()))

        model.fit(iris.data, iris.target)
        with open(os.path.join(experiment.experiment_dir, "model.pkl"), "wb") as file:
            pickle.dump(model, file)


if __name__ == "__main__":
    main()
