"""RELIABILITY.md stays honest: every test its table names exists and is not an expected failure."""

from __future__ import annotations

import ast
import fnmatch
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ALIASES = {"RF/": "tests/reliability/", "SF/": "tests/security/", "DF/": "tests/deployment/", "T/": "tests/"}
REFERENCE = re.compile(r"`((?:RF|SF|DF|T)/[\w/]+\.py)::(\w+)(?:\[([^\]]+)\])?`")


def references() -> list[tuple[str, str, str | None]]:
    text = (ROOT / "RELIABILITY.md").read_text()
    table = text.split("## Faults and inputs", 1)[1].split("## Known bugs", 1)[0]
    out = []
    for line in table.splitlines():
        if not line.startswith("|") or line.startswith("|---"):
            continue
        for match in REFERENCE.finditer(line):
            alias_path, name, pattern = match.group(1), match.group(2), match.group(3)
            alias = alias_path[: alias_path.index("/") + 1]
            out.append((ALIASES[alias] + alias_path[len(alias) :], name, pattern))
    return out


def _xfail_functions(path: Path) -> set[str]:
    """Test functions of a module decorated with ``pytest.mark.xfail`` (or a name bound to one)."""
    tree = ast.parse(path.read_text())
    marks = {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign) and "xfail" in ast.unparse(node.value)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    out = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in node.decorator_list:
                text = ast.unparse(decorator)
                if "mark.xfail" in text or text in marks:
                    out.add(node.name)
    return out


def test_every_row_points_at_a_passing_test(request: pytest.FixtureRequest) -> None:
    refs = references()
    assert len(refs) >= 50, "the table lost its test references"
    collected = {item.nodeid: item for item in request.session.items}
    for path, name, pattern in refs:
        module = ROOT / path
        assert module.is_file(), path
        tree = ast.parse(module.read_text())
        names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        assert name in names, f"{path}::{name} does not exist"
        assert name not in _xfail_functions(module), f"{path}::{name} is an expected failure"
        items = [item for node_id, item in collected.items() if node_id.split("[")[0] == f"{path}::{name}"]
        if not items:
            continue  # its module is not part of this session: existence is what can be checked
        if pattern is not None:
            items = [item for item in items if fnmatch.fnmatchcase(item.nodeid.split("[", 1)[1][:-1], pattern)]
            assert items, f"{path}::{name}[{pattern}] matches no test case"
        xfails = [item.nodeid for item in items if item.get_closest_marker("xfail")]
        assert not xfails, f"the table points at expected failures: {xfails}"
