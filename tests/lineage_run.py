"""Run DAGs through ``dag.test()`` in a fresh process, with or without OpenLineage, and report.

``python -m tests.lineage_run OUT.json openlineage`` turns the OpenLineage listener on (its file
transport) and runs the lineage scenarios against a simulator it serves itself; OUT.json gets, per
scenario, the DAG run's state and the OpenLineage events its tasks emitted. ``... OUT.json without``
makes the OpenLineage packages look uninstalled and runs the Milvus example DAG (the test reads the
warnings the run logged from this process's output).

A separate process because the listener is registered when Airflow loads its plugins, once per
process: the rest of the test suite keeps running without it.
"""

from __future__ import annotations

import atexit
import importlib.abc
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
#: Credentials the events must never contain (the simulator is configured with them; the keys written
#: into create bodies are ``tests.dags.lineage_dags.INLINE_SECRET``). Nothing here imports Airflow:
#: it must be configured first.
SECRETS = {
    "milvus_password": "mv-pass-4f1d9c",
    "zilliz_api_key": "zk-key-8a2e71",
    "egain_client_secret": "eg-secret-5b9c03",
    "storage_access_key": "AKIA-LINEAGE-0001",
    "storage_secret_key": "storage-secret-77e2",
}
MILVUS_FILES = [["articles/2024/part-0001.parquet"], ["articles/2024/part-0002.parquet"]]


def scenarios() -> dict[str, dict[str, Any]]:
    """Name → the DAG to run, its conf, and the lifecycle the simulator gives its next job."""
    failed = {"outcome": "failed", "steps": 1, "reason": "failed to read import file: no such key"}
    return {
        "milvus_success": {"dag": ("example_milvus_import.py", "dag")},
        "zilliz_success": {"dag": ("example_zilliz_wait_running.py", "dag")},
        "egain_success": {"dag": ("example_egain_validate_then_import.py", "dag")},
        "milvus_failure": {
            "dag": ("operator_dags.py", "op_start_deferrable"),
            "conf": {"conn_id": "milvus_default", "request": {"collectionName": "docs", "files": MILVUS_FILES}},
            "lifecycle": ("milvus", failed),
        },
        "zilliz_failure": {"dag": ("lineage_dags.py", "lineage_zilliz_inline_keys"), "lifecycle": ("zilliz", failed)},
        "egain_failure": {"dag": ("lineage_dags.py", "lineage_egain_share"), "lifecycle": ("egain", failed)},
        "hook_milvus": {
            "dag": ("lineage_dags.py", "lineage_hook_task"),
            "conf": {"conn_id": "milvus_plain", "request": {"collectionName": "docs", "files": MILVUS_FILES}},
        },
        "hook_zilliz_volume": {
            "dag": ("lineage_dags.py", "lineage_hook_task"),
            "conf": {
                "conn_id": "zilliz_cloud_default",
                "request": {"collectionName": "docs", "volumeName": "stage-1", "dataPaths": [["batch/1.parquet"]]},
            },
        },
    }


class _Uninstalled(importlib.abc.MetaPathFinder):
    """Makes ``openlineage`` and Airflow's OpenLineage provider look uninstalled: their modules cannot
    be imported and their distributions (so the provider's entry point) are not found."""

    PREFIXES = ("openlineage", "airflow.providers.openlineage")
    DISTRIBUTIONS = frozenset(
        {
            "apache-airflow-providers-openlineage",
            "openlineage-python",
            "openlineage-integration-common",
            "openlineage-sql",
        }
    )

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if any(fullname == p or fullname.startswith(p + ".") for p in self.PREFIXES):
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None

    @classmethod
    def install(cls) -> None:
        import importlib.metadata

        import importlib_metadata

        sys.meta_path.insert(0, cls())
        for metadata in (importlib.metadata, importlib_metadata):
            every = metadata.distributions

            def distributions(every: Any = every, **kwargs: Any) -> Any:
                return (d for d in every(**kwargs) if d.metadata["Name"] not in cls.DISTRIBUTIONS)

            metadata.distributions = distributions  # type: ignore[assignment]


def _setup(mode: str) -> Path:
    """A fresh Airflow home (``tests.conftest`` makes it, DAGs folder included), its DB, the listener."""
    for key in [k for k in os.environ if k.startswith(("AIRFLOW_HOME", "AIRFLOW__OPENLINEAGE__", "OPENLINEAGE_"))]:
        del os.environ[key]
    folder = tempfile.mkdtemp(prefix="aij-lineage-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    events = Path(folder) / "events.jsonl"
    if mode == "openlineage":
        os.environ["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps(
            {"type": "file", "log_file_path": str(events), "append": True}
        )
        os.environ["AIRFLOW__OPENLINEAGE__NAMESPACE"] = "aij-lineage-test"
        os.environ["AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD"] = "True"  # no fork next to the simulator's thread
    else:
        _Uninstalled.install()
    import tests.conftest  # noqa: F401 - makes AIRFLOW_HOME and the DAGs folder, before Airflow loads

    airflow = Path(sys.executable).parent / "airflow"
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, env=os.environ.copy())
    return events


def _connections(server: Any) -> None:
    """The examples' default connection IDs (storage keys in extras; Milvus with a ``storage_uri``),
    and ``milvus_plain`` without one."""
    from tests.conftest import EGAIN, MILVUS, ZILLIZ, simulator_connections

    storage = {"storage_access_key": SECRETS["storage_access_key"], "storage_secret_key": SECRETS["storage_secret_key"]}
    fields = simulator_connections(server)
    milvus = fields[MILVUS]
    connections = {
        "milvus_default": {**milvus, "extra": {**milvus["extra"], "storage_uri": "s3://milvus-bucket"}},
        "milvus_plain": milvus,
        "zilliz_cloud_default": {**fields[ZILLIZ], "extra": {**fields[ZILLIZ]["extra"], **storage}},
        "egain_default": {**fields[EGAIN], "extra": {**fields[EGAIN]["extra"], **storage}},
    }
    for conn_id, conn in connections.items():
        os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)


def _fresh_hook_lineage_collector() -> None:
    """Each task process starts with an empty collector; ``dag.test()`` runs every task in this one."""
    try:
        from airflow.sdk import lineage

        lineage.get_hook_lineage_collector.cache_clear()
    except (ImportError, AttributeError):  # Airflow 3.1: a module global
        from airflow.lineage import hook

        hook._hook_lineage_collector = None


def main(out: Path, mode: str) -> None:
    events_file = _setup(mode)

    from airflow_import_jobs.testing import Lifecycle, SimulatorServer
    from tests.conftest import DAGS_FOLDER
    from tests.test_example_dags import load_dag_module, task_states

    results: dict[str, Any] = {}
    with SimulatorServer() as server:
        server.sim.configure(
            **{key: SECRETS[key] for key in ("milvus_password", "zilliz_api_key", "egain_client_secret")}
        )
        _connections(server)
        chosen = scenarios() if mode == "openlineage" else {"milvus_success": scenarios()["milvus_success"]}
        for name, scenario in chosen.items():
            if "lifecycle" in scenario:
                api, lifecycle = scenario["lifecycle"]
                server.sim.queue_lifecycle(api, Lifecycle(**lifecycle))
            file, attribute = scenario["dag"]
            dag = getattr(load_dag_module(Path(DAGS_FOLDER) / file), attribute)
            if mode == "openlineage":
                _fresh_hook_lineage_collector()
            run = dag.test(run_conf=scenario.get("conf"))
            events = []
            if events_file.exists():
                events = [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]
                events_file.unlink()
            results[name] = {
                "dag_id": dag.dag_id,
                "state": str(run.state),
                "tasks": task_states(run),
                "events": events,
                "milvus_url": server.milvus_url,
                "egain_url": server.egain_url,
                "cluster_id": server.sim.zilliz_cluster_id,
            }
    out.write_text(json.dumps(results))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
