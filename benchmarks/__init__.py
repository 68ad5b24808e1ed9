"""Triggerer-scale benchmark of the import-job waits against the bundled simulator (``make bench``)."""
