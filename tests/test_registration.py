"""The provider's registration: entry point, CLI listing, hooks by type, and the UI form metadata."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

AIRFLOW = str(Path(sys.executable).parent / "airflow")


def test_entry_point_and_package_name() -> None:
    (ep,) = [e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("airflow_import_jobs")]
    assert ep.value == "airflow_import_jobs.get_provider_info:get_provider_info"
    info = ep.load()()
    assert info["package-name"] == "airflow-import-jobs"
    assert {t["connection-type"] for t in info["connection-types"]} == {"milvus", "zilliz_cloud", "egain"}
    for kind in ("hooks", "sensors", "triggers", "operators"):
        assert info[kind], kind
    json.dumps(info)  # plain data


def test_provider_info_does_not_import_airflow() -> None:
    # Airflow imports provider info while it initializes: importing Airflow from there is circular.
    code = (
        "import sys, airflow_import_jobs.get_provider_info as g; g.get_provider_info(); print('airflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_airflow_providers_list_shows_it() -> None:
    out = subprocess.run(
        [AIRFLOW, "providers", "list", "-o", "json"], capture_output=True, text=True, check=True, env=os.environ.copy()
    )
    listing = next(line for line in out.stdout.splitlines() if line.startswith("[{"))  # log lines may precede it
    providers = {p["package_name"]: p for p in json.loads(listing)}
    assert "airflow-import-jobs" in providers


@pytest.mark.parametrize(
    ("conn_type", "hook_class"),
    [
        ("milvus", "MilvusImportHook"),
        ("zilliz_cloud", "ZillizCloudImportHook"),
        ("egain", "EgainImportHook"),
    ],
)
def test_connection_get_hook_resolves_our_hooks(conn_type: str, hook_class: str) -> None:
    from airflow.sdk import Connection

    conn = Connection(
        conn_id=f"x_{conn_type}",
        conn_type=conn_type,
        host="127.0.0.1",
        password="p",
        extra=json.dumps({"cluster_id": "c", "access_token": "t"}),
    )
    hook = conn.get_hook()
    assert type(hook).__name__ == hook_class
    assert hook.conn_id == f"x_{conn_type}"


_META_SCRIPT = """
import json
from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
ours = ("milvus", "zilliz_cloud", "egain")
print(json.dumps({m.connection_type: m.model_dump(mode="json") for m in HookMetaService.hook_meta_data()
                  if m.connection_type in ours}))
"""


def _meta() -> dict[str, Any]:
    # A fresh interpreter, as in the api-server: the metadata must not depend on what ran before.
    out = subprocess.run(
        [sys.executable, "-c", _META_SCRIPT], capture_output=True, text=True, check=True, env=os.environ.copy()
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def ui_meta() -> dict[str, Any]:
    return _meta()


def test_zilliz_form(ui_meta: dict[str, Any]) -> None:
    form = ui_meta["zilliz_cloud"]
    fields = form["standard_fields"]
    assert fields["password"]["title"] == "API Key"
    assert fields["host"]["placeholder"] == "https://api.cloud.zilliz.com"
    assert fields["login"]["hidden"] is True
    assert fields["port"]["hidden"] is True
    extras = form["extra_fields"]
    assert extras["cluster_id"]["schema"]["title"] == "Cluster ID"
    assert str(extras["max_requests_per_second"]["value"]) == "20"  # a number field (3.2+) or text (3.1)
    assert extras["storage_secret_key"]["schema"]["format"] == "password"


def test_egain_form(ui_meta: dict[str, Any]) -> None:
    form = ui_meta["egain"]
    fields = form["standard_fields"]
    assert fields["login"]["title"] == "Client ID"
    assert fields["password"]["title"] == "Client Secret"
    assert fields["host"]["title"] == "API domain"
    assert fields["port"]["hidden"] is True
    extras = form["extra_fields"]
    assert extras["access_token"]["schema"]["format"] == "password"
    assert extras["scope"]["value"] == "knowledge.contentmgr.manage"
    assert "token_url" in extras


def test_milvus_form(ui_meta: dict[str, Any]) -> None:
    form = ui_meta["milvus"]
    fields = form["standard_fields"]
    assert fields["host"]["title"] == "Host or URL"
    assert fields["port"]["placeholder"] == "19530"
    assert fields["url_schema"]["hidden"] is True
    extras = form["extra_fields"]
    assert extras["token"]["schema"]["format"] == "password"
    assert extras["db_name"]["value"] == "default"
    assert extras["secure"]["schema"]["type"][0] == "boolean"
    assert extras["storage_uri"]["schema"]["title"] == "Storage URI (lineage)"  # where lineage names the files
    assert "format" not in extras["storage_uri"]["schema"]  # a location, shown in clear


def test_every_secret_extra_is_masked_in_the_form(ui_meta: dict[str, Any]) -> None:
    from airflow_import_jobs.connections.types import CONNECTION_TYPES

    for conn_type, spec in CONNECTION_TYPES.items():
        extras = ui_meta[conn_type]["extra_fields"]
        for field in spec.extras:
            fmt = extras[field.name]["schema"].get("format")
            assert (fmt == "password") is field.secret, (conn_type, field.name)
