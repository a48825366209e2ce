"""Forecast the last weeks of a synthetic series and record the errors.

    python -m forecast.train forecast/configs/weekly.json [--experiments-dir DIR]

The JSON file is the run's config; its run name comes from its values, e.g.
experiments/365-28-0.3-0.05-0.2-7 (data.days, data.horizon, then the model's
values; the "_seed" key is left out of the name).
"""

from __future__ import annotations

import argparse

from forecast.series import make_series
from forecast.smoothing import forecast
from maggot import Experiment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="a JSON config file, e.g. forecast/configs/weekly.json")
    parser.add_argument("--experiments-dir", default="experiments")
    args = parser.parse_args()

    # a path to a JSON file is a config as good as a dict: maggot reads and records it
    with Experiment(
        config=args.config, experiments_dir=args.experiments_dir, if_exists_mode="increment"
    ) as exp:
        data, model = exp.config.data, exp.config.model
        series = make_series(data.days, model.season, data._seed)
        history, actual = series[: -data.horizon], series[-data.horizon :]
        predicted = forecast(
            history, data.horizon, model.season, model.alpha, model.beta, model.gamma
        )
        errors = [abs(p - a) for p, a in zip(predicted, actual)]
        mae = sum(errors) / len(errors)
        print(f"forecast {data.horizon} days: mean absolute error {mae:.4f}")
        exp.register_result("mae", round(mae, 6))
        exp.register_result("max_error", round(max(errors), 6))


if __name__ == "__main__":
    main()
