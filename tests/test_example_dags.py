"""The example DAGs, as a user would copy them, run end to end with ``dag.test()`` against the simulator."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from airflow_import_jobs.testing import SimulatorServer
from tests.conftest import DAGS_FOLDER, set_connection, simulator_connections

EXAMPLES = Path(__file__).resolve().parent.parent / "example_dags"
DEFAULT_IDS = {"milvus_sim": "milvus_default", "zilliz_sim": "zilliz_cloud_default", "egain_sim": "egain_default"}


@pytest.fixture
def default_connections(sim_server: SimulatorServer, monkeypatch: pytest.MonkeyPatch) -> SimulatorServer:
    """The default connection IDs the examples use, pointing at the simulator (keys in extras)."""
    for conn_id, fields in simulator_connections(sim_server).items():
        fields = {
            **fields,
            "extra": {
                **fields["extra"],
                "storage_access_key": "AKIA-DEMO",
                "storage_secret_key": "demo-storage-secret",
            },
        }
        set_connection(monkeypatch, DEFAULT_IDS[conn_id], **fields)
    return sim_server


def load_dag_module(path: Path) -> Any:
    """Import a DAG file from the DAGs folder once (the path is what dag.test() serializes)."""
    import sys

    name = f"dagfile_{path.stem}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
    return sys.modules[name]


def load_dag(path: Path) -> Any:
    return load_dag_module(path).dag


def task_states(run: Any) -> dict[str, str]:
    from airflow.utils.session import create_session

    with create_session() as session:
        return {ti.task_id: str(ti.state) for ti in run.get_task_instances(session=session)}


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("example_*.py")), ids=lambda p: p.stem)
def test_example_dag_succeeds(default_connections: SimulatorServer, path: Path) -> None:
    dag = load_dag(Path(DAGS_FOLDER) / path.name)
    assert "example" in dag.tags
    run = dag.test()
    states = task_states(run)
    assert str(run.state) == "success", states
    assert set(states.values()) == {"success"}, states
