"""Operators: list import jobs, and start one (optionally waiting for it to finish)."""
