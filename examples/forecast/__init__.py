"""Exponential-smoothing forecasts of a synthetic seasonal series, recorded by maggot.

Run as a module from the examples folder, with a JSON config file:

    cd examples && python -m forecast.train forecast/configs/weekly.json
"""
