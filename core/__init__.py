"""Sensorium's foundations: settings, logging, errors, JSON and time helpers; imports nothing of ours."""
