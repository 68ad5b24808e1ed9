"""Provider metadata, read by Airflow through the ``apache_airflow_provider`` entry point.

Airflow calls this while it initializes: it must import nothing that imports Airflow.
"""

from __future__ import annotations

from typing import Any

from airflow_import_jobs import __version__
from airflow_import_jobs.connections.types import CONNECTION_TYPES

_INTEGRATIONS = [
    {
        "integration-name": "Milvus",
        "external-doc-url": "https://milvus.io/docs/bulk_insert.md",
        "tags": ["software"],
    },
    {
        "integration-name": "Zilliz Cloud",
        "external-doc-url": "https://docs.zilliz.com/reference/restful/list-import-jobs-v2",
        "tags": ["service"],
    },
    {"integration-name": "eGain Knowledge", "tags": ["service"]},
]
_ALL = [i["integration-name"] for i in _INTEGRATIONS]


def _modules(module: str) -> list[dict[str, Any]]:
    return [{"integration-name": name, "python-modules": [module]} for name in _ALL]


def get_provider_info() -> dict[str, Any]:
    """The provider's registration: package name, integrations, modules, connection types."""
    return {
        "package-name": "airflow-import-jobs",
        "name": "Import Jobs (Milvus, Zilliz Cloud, eGain)",
        "description": "Start, list and wait on bulk import jobs in Milvus, Zilliz Cloud and eGain Knowledge.",
        "versions": [__version__],
        "integrations": _INTEGRATIONS,
        "hooks": [
            {"integration-name": "Milvus", "python-modules": ["airflow_import_jobs.hooks.milvus"]},
            {"integration-name": "Zilliz Cloud", "python-modules": ["airflow_import_jobs.hooks.zilliz"]},
            {"integration-name": "eGain Knowledge", "python-modules": ["airflow_import_jobs.hooks.egain"]},
        ],
        "triggers": _modules("airflow_import_jobs.triggers.import_job"),
        "sensors": _modules("airflow_import_jobs.sensors.import_job"),
        "operators": _modules("airflow_import_jobs.operators.import_job"),
        "connection-types": [t.provider_info() for t in CONNECTION_TYPES.values()],
        "asset-uris": [
            {
                "schemes": ["milvus", "zilliz", "egain"],
                "handler": "airflow_import_jobs.assets.normalize_uri",
                "to_openlineage_converter": "airflow_import_jobs.lineage.convert_asset_to_openlineage",
            },
            {
                "schemes": ["zilliz-volume"],
                "handler": None,
                "to_openlineage_converter": "airflow_import_jobs.lineage.convert_asset_to_openlineage",
            },
        ],
    }
