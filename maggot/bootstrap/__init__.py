"""Put on ``PYTHONPATH`` for a run's child processes: its ``sitecustomize`` starts
recording the files they open (see ``maggot.openlog``). Nothing here is imported
as ``maggot.bootstrap`` in normal use."""
