"""Unit tests of the workers package."""
