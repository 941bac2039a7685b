"""Sensorium's benchmarks: `python -m benchmarks` (`make bench`) measures the running platform."""
