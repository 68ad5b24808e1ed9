"""A local simulator of the Milvus, Zilliz Cloud and eGain import-job APIs, for tests, the demo
and benchmarks.

::

    from airflow_import_jobs.testing import Simulator, SimulatorServer, Lifecycle, Fault

    with SimulatorServer() as server:
        job_id = server.sim.add_milvus_job(lifecycle=Lifecycle(outcome="failed", steps=2))
        ...  # point a client at server.milvus_url / zilliz_url / egain_url

``python -m airflow_import_jobs.testing.simulator`` serves it from a separate process;
``pytest_plugins = ["airflow_import_jobs.testing.pytest_plugin"]`` gives tests fixtures;
:func:`mock_transport` serves it to an httpx client with no socket at all.
"""

from airflow_import_jobs.testing.simulator.faults import Fault
from airflow_import_jobs.testing.simulator.lifecycle import Lifecycle
from airflow_import_jobs.testing.simulator.mock import mock_transport
from airflow_import_jobs.testing.simulator.server import SimulatorServer
from airflow_import_jobs.testing.simulator.state import Simulator

__all__ = ["Fault", "Lifecycle", "Simulator", "SimulatorServer", "mock_transport"]
