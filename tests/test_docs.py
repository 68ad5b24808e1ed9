"""The documentation stays true to the code: generated tables, code blocks, names, links, snippets.

Conventions the docs follow (and this file enforces):

* every fenced ````python`` block compiles; the names it imports from ``airflow_import_jobs`` exist, and
  the keyword arguments it passes to the provider's classes and functions are ones they accept;
* a block right after ``<!-- snippet: <example_dags file> <name> -->`` is the ``[START name]`` ..
  ``[END name]`` part of that example DAG, verbatim, and every such snippet is shown somewhere;
* every ````json`` block parses; job records, trigger events and asset-event extras in them have
  exactly the shape the code produces;
* every ``export AIRFLOW_CONN_...='...'`` line is a connection the provider reads without an error;
* every relative link and image resolves (anchors included), and the screenshots and the benchmark
  chart other parts of the project produce are there.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import json
import re
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXAMPLE_DAGS = ROOT / "example_dags"

#: Images other parts of the project produce (the browser test, the benchmark); the docs show them.
EXPECTED_IMAGES = (
    "docs/img/connection-form-milvus.png",
    "docs/img/connection-form-zilliz_cloud.png",
    "docs/img/connection-form-egain.png",
    "docs/img/benchmark.png",
)

#: Public names a snippet may use without importing them (snippets are cut out of example DAGs).
SNIPPET_NAMES = {
    "StartImportJobOperator": "airflow_import_jobs.operators.import_job",
    "ListImportJobsOperator": "airflow_import_jobs.operators.import_job",
    "ImportJobSensor": "airflow_import_jobs.sensors.import_job",
    "ImportJobTrigger": "airflow_import_jobs.triggers.import_job",
}

_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)\s*$")
_SNIPPET_MARK = re.compile(r"<!--\s*snippet:\s*(?P<file>\S+)\s+(?P<name>\S+)\s*-->")
_LINK = re.compile(r"!?\[[^\]]*\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
_INLINE_CODE = re.compile(r"`+[^`]*`+")
_EXPORT = re.compile(r"^export (?P<var>AIRFLOW_CONN_[A-Z0-9_]+)='(?P<value>.+)'$")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    lang: str
    text: str
    snippet: tuple[str, str] | None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def code_blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file, dedented, with the snippet marker before each."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        start = i
        i += 1
        body: list[str] = []
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i])
            i += 1
        assert i < len(lines), f"{path.relative_to(ROOT)}:{start + 1}: unclosed code block"
        i += 1
        previous = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        mark = _SNIPPET_MARK.search(previous)
        blocks.append(
            Block(
                path=path,
                line=start + 1,
                lang=opening["lang"],
                text=textwrap.dedent("\n".join(body)) + "\n",
                snippet=(mark["file"], mark["name"]) if mark else None,
            )
        )
    return blocks


def all_blocks(lang: str) -> list[Block]:
    return [b for path in DOC_FILES for b in code_blocks(path) if b.lang == lang]


def prose(path: Path) -> str:
    """The Markdown text without fenced blocks and inline code (where links are not links)."""
    out: list[str] = []
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line) or (fenced and line.strip() == "```"):
            fenced = not fenced
            continue
        if not fenced:
            out.append(_INLINE_CODE.sub("", line))
    return "\n".join(out)


def _ids(blocks: list[Block]) -> list[str]:
    return [b.where for b in blocks]


# -- 1. the generated states page -------------------------------------------------------------


def _load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"docs_script_{name}", ROOT / "scripts" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_states_page_is_the_generator_output(capsys: pytest.CaptureFixture[str]) -> None:
    generator = _load_script("gen_states_doc")
    assert generator.main([]) == 0
    printed = capsys.readouterr().out
    current = (ROOT / "docs" / "states.md").read_text(encoding="utf-8")
    assert printed == generator.render()
    assert current == printed, "docs/states.md is out of date: run `uv run python scripts/gen_states_doc.py --write`"


def test_states_page_lists_every_spelling() -> None:
    from airflow_import_jobs.models import JobState
    from airflow_import_jobs.protocol.states import EGAIN_STATES, FILE_STATES, MILVUS_STATES, ZILLIZ_STATES

    page = (ROOT / "docs" / "states.md").read_text(encoding="utf-8")
    for table in (MILVUS_STATES, FILE_STATES, ZILLIZ_STATES, EGAIN_STATES):
        for spelling, state in table.items():
            assert f"| `{spelling}` | `{state.value}` |" in page
    for state in JobState:
        assert f"`{state.value}`" in page


# -- 2. python blocks --------------------------------------------------------------------------


PYTHON_BLOCKS = all_blocks("python")


def test_docs_have_python_examples() -> None:
    assert len(PYTHON_BLOCKS) >= 8


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=_ids(PYTHON_BLOCKS))
def test_python_block_compiles(block: Block) -> None:
    compile(block.text, block.where, "exec")


def _accepted_keywords(target: Any) -> tuple[set[str], bool]:
    """Keyword names ``target`` (a class or function) accepts, and whether it takes any keyword."""
    if inspect.isclass(target):
        names: set[str] = set()
        for klass in target.__mro__:
            init = klass.__dict__.get("__init__")
            if init is None or klass is object:
                continue
            names |= {p.name for p in inspect.signature(init).parameters.values() if p.kind is not p.VAR_KEYWORD}
        return names, False
    parameters = inspect.signature(target).parameters.values()
    return {p.name for p in parameters}, any(p.kind is p.VAR_KEYWORD for p in parameters)


def _provider_names(block: Block, tree: ast.Module) -> dict[str, Any]:
    """Names bound in the block to objects of the provider (and snippet names), resolved."""
    names: dict[str, Any] = {}
    if block.snippet is not None:
        for name, module in SNIPPET_NAMES.items():
            names[name] = getattr(importlib.import_module(module), name)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("airflow_import_jobs"):
            module = importlib.import_module(node.module or "")
            for alias in node.names:
                assert hasattr(module, alias.name), f"{block.where}: {node.module} has no {alias.name}"
                names[alias.asname or alias.name] = getattr(module, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("airflow_import_jobs"):
                    importlib.import_module(alias.name)
    return names


def _called(func: ast.expr, names: dict[str, Any]) -> Any:
    """The provider object a call's ``func`` stands for: ``Name(...)``, ``Name.partial(...)`` and
    ``Name.partial(...).expand(...)`` are checked against ``Name``'s signature."""
    if isinstance(func, ast.Name):
        return names.get(func.id)
    if isinstance(func, ast.Attribute) and func.attr in ("partial", "expand"):
        inner = func.value
        if isinstance(inner, ast.Call):
            inner = inner.func
        if isinstance(inner, ast.Attribute) and inner.attr == "partial":
            inner = inner.value
        if isinstance(inner, ast.Name) and inspect.isclass(names.get(inner.id)):
            return names[inner.id]
    return None


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=_ids(PYTHON_BLOCKS))
def test_python_block_uses_real_names_and_arguments(block: Block) -> None:
    tree = ast.parse(block.text, block.where)
    names = _provider_names(block, tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        target = _called(node.func, names)
        if target is None:
            continue
        accepted, any_keyword = _accepted_keywords(target)
        for keyword in node.keywords:
            if keyword.arg is None or any_keyword:
                continue
            assert keyword.arg in accepted, (
                f"{block.where} line {node.lineno}: {getattr(target, '__name__', target)} takes no {keyword.arg!r}"
            )


# -- snippets copied from the example DAGs ----------------------------------------------------


def example_snippets() -> dict[tuple[str, str], str]:
    """Every ``# [START name]`` .. ``# [END name]`` part of the example DAGs, dedented."""
    found: dict[tuple[str, str], str] = {}
    for path in sorted(EXAMPLE_DAGS.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"^[ \t]*# \[START (\S+)\]\n(.*?)^[ \t]*# \[END \1\]", text, re.M | re.S):
            found[(path.name, match[1])] = textwrap.dedent(match[2])
    return found


SNIPPET_BLOCKS = [b for path in DOC_FILES for b in code_blocks(path) if b.snippet is not None]


@pytest.mark.parametrize("block", SNIPPET_BLOCKS, ids=_ids(SNIPPET_BLOCKS))
def test_snippet_is_the_example_dag_verbatim(block: Block) -> None:
    assert block.snippet is not None
    file_name, name = block.snippet
    snippets = example_snippets()
    assert block.snippet in snippets, f"{block.where}: no [START {name}] in example_dags/{file_name}"
    assert block.text == snippets[block.snippet], f"{block.where} differs from example_dags/{file_name}: copy it again"


def test_every_example_snippet_is_shown() -> None:
    shown = {b.snippet for b in SNIPPET_BLOCKS}
    missing = sorted(set(example_snippets()) - shown)
    assert not missing, f"example DAG snippets not shown in the docs: {missing}"


# -- 3. json blocks ------------------------------------------------------------------------------


JSON_BLOCKS = all_blocks("json")


def _objects(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _objects(item)


def _check_job(obj: dict[str, Any], where: str) -> None:
    from airflow_import_jobs.models import ImportJob

    assert set(obj) == set(ImportJob.model_fields), f"{where}: not the full ImportJob shape"
    assert ImportJob.model_validate(obj).model_dump(mode="json") == obj, f"{where}: not what the model dumps"


def _check_event(obj: dict[str, Any], where: str) -> None:
    from airflow_import_jobs.waiting.outcome import Outcome

    assert Outcome.from_event(obj).event() == obj, f"{where}: not a trigger event as the trigger makes it"


def _check_asset_extra(obj: dict[str, Any], where: str) -> None:
    from airflow_import_jobs.assets import event_extra

    jobs = [{**job, "backend": obj["backend"]} for job in obj["jobs"]]
    assert event_extra(jobs) == obj, f"{where}: not the extra the provider builds for these jobs"


@pytest.mark.parametrize("block", JSON_BLOCKS, ids=_ids(JSON_BLOCKS))
def test_json_block_has_the_shape_the_code_makes(block: Block) -> None:
    value = json.loads(block.text)
    checks: list[tuple[Callable[[dict[str, Any]], bool], Callable[[dict[str, Any], str], None]]] = [
        (lambda o: {"status", "jobs", "message"} == set(o), _check_event),
        (lambda o: "job_ids" in o and "jobs" in o, _check_asset_extra),
        (lambda o: "job_id" in o and "backend" in o, _check_job),
    ]
    for obj in _objects(value):
        for applies, check in checks:
            if applies(obj):
                check(obj, block.where)
                break


# -- connection examples -----------------------------------------------------------------------


CONNECTION_EXAMPLES = [
    (f"{b.where} {m['var']}", m["var"], m["value"])
    for b in all_blocks("bash")
    for line in b.text.splitlines()
    if (m := _EXPORT.match(line.strip()))
]


def test_docs_have_connection_examples() -> None:
    kinds = {
        json.loads(value)["conn_type"] if value.startswith("{") else value.split(":")[0]
        for *_, value in CONNECTION_EXAMPLES
    }
    assert {"milvus", "zilliz_cloud", "zilliz-cloud", "egain"} <= kinds


@pytest.mark.parametrize(("where", "var", "value"), CONNECTION_EXAMPLES, ids=[c[0] for c in CONNECTION_EXAMPLES])
def test_connection_example_reads_without_error(where: str, var: str, value: str) -> None:
    from airflow.sdk import Connection

    from airflow_import_jobs.connections.settings import CONNECTION_TYPES, read_settings

    conn_id = var.removeprefix("AIRFLOW_CONN_").lower()
    conn = (
        Connection.from_json(value, conn_id=conn_id) if value.startswith("{") else Connection.from_uri(value, conn_id)
    )
    assert conn.conn_type in CONNECTION_TYPES, f"{where}: unknown connection type {conn.conn_type!r}"
    settings = read_settings(conn, CONNECTION_TYPES[conn.conn_type])
    assert settings.base_url.startswith(("http://", "https://"))
    if conn.conn_type == "zilliz_cloud":
        assert settings.cluster_id, f"{where}: a Zilliz Cloud example without cluster_id fails at the first call"


# -- documented names match the code -----------------------------------------------------------


def _own_parameters(target: Any) -> list[str]:
    init = target.__dict__["__init__"]
    return [
        p.name
        for p in inspect.signature(init).parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]


@pytest.mark.parametrize(
    "qualname",
    [
        "airflow_import_jobs.operators.import_job.StartImportJobOperator",
        "airflow_import_jobs.operators.import_job.ListImportJobsOperator",
        "airflow_import_jobs.sensors.import_job.ImportJobSensor",
        "airflow_import_jobs.triggers.import_job.ImportJobTrigger",
    ],
)
def test_every_parameter_is_documented(qualname: str) -> None:
    module, _, name = qualname.rpartition(".")
    target = getattr(importlib.import_module(module), name)
    page = (ROOT / "docs" / "operators.md").read_text(encoding="utf-8")
    missing = [p for p in _own_parameters(target) if f"| `{p}` |" not in page]
    assert not missing, f"docs/operators.md has no parameter row for {name}: {missing}"


def test_every_connection_field_is_documented() -> None:
    from airflow_import_jobs.connections.types import CONNECTION_TYPES

    page = (ROOT / "docs" / "connections.md").read_text(encoding="utf-8")
    for spec in CONNECTION_TYPES.values():
        assert f"(`{spec.conn_type}`)" in page
        assert f"`{spec.default_conn_id}`" in page
        for extra in spec.extras:
            assert f"| `{extra.name}` | {extra.label} |" in page, f"{spec.conn_type}: extra {extra.name} undocumented"
        for label in spec.relabeling.values():
            assert f"| {label} |" in page, f"{spec.conn_type}: form field {label!r} undocumented"


def test_every_exception_is_documented() -> None:
    from airflow_import_jobs import exceptions

    page = (ROOT / "docs" / "operators.md").read_text(encoding="utf-8")
    missing = [name for name in exceptions.__all__ if name not in page]
    assert not missing, f"docs/operators.md does not mention {missing}"


# -- 4. links and images ------------------------------------------------------------------------


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    counts: dict[str, int] = {}
    for line in prose_with_code_spans(path).splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            base = _slug(match[1])
            n = counts.get(base, 0)
            counts[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return found


def prose_with_code_spans(path: Path) -> str:
    """The Markdown text without fenced blocks (headings keep their code spans' text)."""
    out: list[str] = []
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line) or (fenced and line.strip() == "```"):
            fenced = not fenced
            continue
        if not fenced:
            out.append(line)
    return "\n".join(out)


LINKS = sorted(
    {
        (f"{path.relative_to(ROOT)} -> {m['target']}", path, m["target"])
        for path in DOC_FILES
        for m in _LINK.finditer(prose(path))
        if not re.match(r"^[a-z][a-z0-9+.-]*:", m["target"])
    }
)


@pytest.mark.parametrize(("label", "path", "target"), LINKS, ids=[link[0] for link in LINKS])
def test_relative_link_resolves(label: str, path: Path, target: str) -> None:
    file_part, _, anchor = target.partition("#")
    resolved = (path.parent / file_part).resolve() if file_part else path
    assert resolved.exists(), f"{label}: {resolved.relative_to(ROOT) if resolved.is_relative_to(ROOT) else resolved}"
    if anchor and resolved.suffix == ".md":
        assert anchor in anchors(resolved), f"{label}: no heading with anchor #{anchor}"


def test_expected_images_are_shown_and_present() -> None:
    linked = {(path.parent / target).resolve() for _, path, target in LINKS}
    for image in EXPECTED_IMAGES:
        assert (ROOT / image).resolve() in linked, f"{image} is not shown in any doc"
        assert (ROOT / image).is_file(), f"{image} is missing: it is produced by the browser test or `make bench`"


def test_readme_links_every_docs_page() -> None:
    readme = prose(ROOT / "README.md")
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"(docs/{page.name}" in readme, f"README.md does not link docs/{page.name}"


def test_readme_starts_with_make_demo() -> None:
    first = next(b for b in code_blocks(ROOT / "README.md") if b.lang == "bash")
    assert first.text.splitlines()[0].startswith("make demo")
