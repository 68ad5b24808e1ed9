"""The vendors' own Python clients, pointed at the simulator over loopback.

``pymilvus`` ships its import REST functions (``bulk_import``, ``get_import_progress``,
``list_import_jobs``) in ``pymilvus/bulk_writer/bulk_import.py``. The ``pymilvus.bulk_writer``
package refuses to import without the ``bulk_writer`` extra (pyarrow, minio, azure-storage-blob,
ml_dtypes: hundreds of MB for writing files, which these functions never do), so the module file
is loaded by itself: the vendor's code, unchanged, with only what it imports (``requests`` and
``pymilvus.exceptions``).
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import httpx
import pytest

from airflow_import_jobs.testing import Simulator, SimulatorServer

T = TypeVar("T")
EGAIN_PREFIX = "/knowledge/contentmgr/v4"
UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
#: Reads a job needs at most before it is terminal (the default lifecycle takes 3).
MAX_READS = 20


def _load_bulk_import() -> ModuleType:
    spec = importlib.util.find_spec("pymilvus")
    assert spec is not None, "pymilvus is a dev dependency"
    assert spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / "bulk_writer" / "bulk_import.py"
    module_spec = importlib.util.spec_from_file_location("_vendor_pymilvus_bulk_import", path)
    assert module_spec is not None
    assert module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def bulk_import() -> ModuleType:
    """``pymilvus.bulk_writer.bulk_import``: ``bulk_import``, ``get_import_progress``, ``list_import_jobs``."""
    return _load_bulk_import()


@pytest.fixture
def server(import_job_simulator: SimulatorServer) -> SimulatorServer:
    """The simulator, reset; Zilliz Cloud's rate limit off (the SDK calls are few and not the subject)."""
    import_job_simulator.sim.zilliz_rate_limit = None
    return import_job_simulator


@pytest.fixture
def sim(server: SimulatorServer) -> Simulator:
    return server.sim


def egain_access_token(server: SimulatorServer) -> str:
    """A token from the tenant's OAuth endpoint (the eGain SDK takes a ready token)."""
    sim = server.sim
    form = {
        "grant_type": "client_credentials",
        "client_id": sim.egain_client_id,
        "client_secret": sim.egain_client_secret,
        "scope": "knowledge.contentmgr.manage",
    }
    token: str = httpx.post(server.egain_token_url, data=form, timeout=5).json()["access_token"]
    return token


@pytest.fixture
def egain_server_url(server: SimulatorServer) -> str:
    """The ``server_url`` every eGain import operation is given (the SDK's default is eGain's dev host)."""
    return server.egain_url + EGAIN_PREFIX


@pytest.fixture
def egain(server: SimulatorServer) -> Iterator[Any]:
    """``egain_api_python.Egain`` as its README builds it, with a token the simulator issued."""
    from egain_api_python import Egain

    with Egain(access_token=egain_access_token(server)) as client:
        yield client


def until_terminal(read: Callable[[], T], is_terminal: Callable[[T], bool]) -> T:
    """Read a job until ``is_terminal`` says so; jobs advance per read, so no sleeping."""
    for _ in range(MAX_READS):
        answer = read()
        if is_terminal(answer):
            return answer
    raise AssertionError(f"the job was not terminal after {MAX_READS} reads")


def job_id_from_location(headers: dict[str, list[str]]) -> str:
    """The job UUID in a start answer's ``location`` header (as the SDK returns headers)."""
    location = next(v for k, v in headers.items() if k.lower() == "location")[0]
    found = UUID.findall(location)
    assert found, location
    return str(found[-1])
