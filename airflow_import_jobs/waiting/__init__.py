"""Waiting on a job until it ends, shared by the trigger, the sensor and the start operator.

``outcome`` decides, with no I/O, when a wait is over and how it reads; ``feed`` is the per-connection
poll loop that serves every wait in a process; ``task`` is the Airflow side of a wait (trigger
arguments, XCom, exceptions, asset events).
"""
