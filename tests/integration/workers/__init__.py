"""Integration tests of the workers package against a real database."""
