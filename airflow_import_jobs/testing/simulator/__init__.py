"""The simulator of the three import-job APIs: one module per API (``milvus``, ``zilliz``, ``egain``) over
shared in-memory ``state``, scripted job ``lifecycle``\\s, injectable ``faults``, the ASGI ``app``, its
uvicorn ``server`` and the command line (``python -m airflow_import_jobs.testing.simulator``).

Import the public names from :mod:`airflow_import_jobs.testing`.
"""
