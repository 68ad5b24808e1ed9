"""What the simulated Milvus and Zilliz Cloud servers check before they create an import job.

Zilliz Cloud runs Milvus, so both apply one set of rules, taken from the Milvus server (the proxy's
import task and ``importutilv2.GetFileType``), in the order it applies them:

======  ===========================================================================================
code    when
======  ===========================================================================================
800     the database does not exist
100     the collection does not exist in that database
200     the partition does not exist (an empty name means ``_default``)
1100    no file at all once empty inner lists are dropped: "import request is empty"
2100    more inner lists than the server's limit; an inner list whose files do not share one
        extension; a JSON, Parquet or CSV inner list with more than one file (a NumPy list holds one
        ``.npy`` file per field, so it may hold many); an extension Milvus cannot read
======  ===========================================================================================

Zilliz Cloud also takes a folder (a path ending in ``/``) as an inner list of its own, as its docs
show; Milvus does not (a path without an extension is an unexpected file type there).
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from urllib.parse import urlsplit

#: (code, message) of a refused create.
Refusal = tuple[int, str]

#: The extensions Milvus reads, and whether an inner list may hold several files of that type.
_READABLE: dict[str, bool] = {
    ".json": False,
    ".jsonl": False,
    ".ndjson": False,
    ".parquet": False,
    ".csv": False,
    ".npy": True,
}
_ONE_FILE_KIND = {".json": "JSON", ".jsonl": "JSON", ".ndjson": "JSON", ".parquet": "Parquet", ".csv": "CSV"}
_JSON_LINES = frozenset({".jsonl", ".ndjson"})
DEFAULT_PARTITION = "_default"


def import_failed(reason: str) -> Refusal:
    """Milvus's ``ErrImportFailed`` (2100) wrapping ``reason``."""
    return 2100, f"{reason}: importing data failed"


def check_target(
    collections: Mapping[str, Set[str]], partitions: Set[str], db: str, collection: str | None, partition: str | None
) -> Refusal | None:
    """The refusal for a database, collection or partition that does not exist (None: all exist).

    ``collection`` None checks the database only (a list without a collection filter); a
    ``partition`` None or empty means the collection's ``_default`` partition, which every
    collection has.
    """
    known = collections.get(db)
    if known is None:
        return 800, f"database not found[database={db}]"
    if collection is not None and collection not in known:
        return 100, f"collection not found[database={db}][collection={collection}]"
    if collection is not None and partition and partition != DEFAULT_PARTITION and partition not in partitions:
        return 200, f"partition not found[partition={partition}]"
    return None


def check_files(
    groups: list[list[str]], *, max_files: int, folders: bool = False, options: Mapping[str, str] | None = None
) -> Refusal | None:
    """The refusal for file groups the server would not import (None: it would).

    ``folders``: a lone path ending in ``/`` is a folder to import (Zilliz Cloud), not an error.
    ``options``: a backup restore (``backup``) or an L0 import (``l0_import``) names binlog folders,
    whose file types Milvus does not check.
    """
    units = [group for group in groups if group]
    if not units:
        return 1100, "import request is empty: invalid parameter"
    if len(units) > max_files:
        return import_failed(f"The max number of import files should not exceed {max_files}, but got {len(units)}")
    if any((options or {}).get(flag, "").lower() == "true" for flag in ("backup", "l0_import")):
        return None
    for unit in units:
        refusal = _check_unit(unit, folders=folders)
        if refusal is not None:
            return refusal
    return None


def _extension(path: str) -> str:
    """Go's ``filepath.Ext``: from the last dot of the last path element, or empty.

    An object URL (Zilliz Cloud) is judged by its path: a pre-signed URL's query is not the name.
    """
    if "://" in path:
        path = urlsplit(path).path
    name = path.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    return name[dot:] if dot >= 0 else ""


def _check_unit(unit: list[str], *, folders: bool) -> Refusal | None:
    if folders and len(unit) == 1 and unit[0].endswith("/"):
        return None
    first = _extension(unit[0])
    for path in unit[1:]:
        ext = _extension(path)
        if ext != first and not (ext in _JSON_LINES and first in _JSON_LINES):
            return import_failed(f"inconsistency in file types, ({unit[0]}) vs ({path})")
    if first not in _READABLE:
        return import_failed(f"unexpected file type, files=[{' '.join(unit)}]")
    if not _READABLE[first] and len(unit) != 1:
        return import_failed(f"for {_ONE_FILE_KIND[first]} import, accepts only one file")
    return None
