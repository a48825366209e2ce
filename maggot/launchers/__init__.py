"""Launchers start a sweep's jobs: a local pool of processes, or a Slurm job array.

They only start processes; every job records itself through ``maggot.sweep.run_job``.
"""
