"""Sensorium's foundations: settings, logging, errors, JSON and time; imports nothing of ours."""
