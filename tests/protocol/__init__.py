"""Tests of the sans-IO protocol layer: recorded responses fed to pure parse functions and flows."""
