"""What users install: the wheel and the sdist hold exactly the package, and a wheel installed into a
clean venv (no checkout on its path) registers the provider with Airflow."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "airflow_import_jobs"


def _uv() -> str:
    found = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    if not Path(found).exists():
        pytest.skip("uv is not installed (make installs it into .tools/)")
    return found


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([_uv(), "build", "--quiet", "--out-dir", str(out), str(ROOT)], check=True)
    return out


def _package_files() -> set[str]:
    return {
        str(path.relative_to(ROOT))
        for path in (ROOT / PACKAGE).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_wheel_holds_exactly_the_package(dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    code = {n for n in names if not n.startswith(f"{PACKAGE}-")}
    assert code == _package_files()
    metadata = {n.split("/", 1)[1] for n in names - code}
    assert "entry_points.txt" in metadata
    assert "licenses/LICENSE" in metadata


def test_sdist_holds_the_package_and_what_building_it_needs(dist: Path) -> None:
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    code = {n for n in names if n.startswith(f"{PACKAGE}/")}
    assert code == _package_files()
    assert names - code == {"PKG-INFO", "pyproject.toml", "README.md", "CHANGELOG.md", "LICENSE", ".gitignore"}


def test_wheel_in_a_clean_venv_registers_the_provider(dist: Path, tmp_path: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    venv = tmp_path / "venv"
    uv = _uv()
    # The locked versions of the runtime dependencies, so this resolves offline from uv's cache.
    pins = tmp_path / "pins.txt"
    subprocess.run(
        [uv, "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes", "--quiet", "-o", str(pins)],
        cwd=ROOT,
        check=True,
    )
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    env = {**os.environ, "VIRTUAL_ENV": str(venv)}
    env.pop("PYTHONPATH", None)
    subprocess.run([uv, "pip", "install", "--quiet", "-c", str(pins), str(wheel)], env=env, check=True)
    airflow_env = {**env, "AIRFLOW_HOME": str(tmp_path / "airflow-home"), "PATH": f"{venv / 'bin'}:{env['PATH']}"}
    listed = subprocess.run(
        [str(venv / "bin" / "airflow"), "providers", "list", "-o", "plain"],
        cwd=tmp_path,  # not the checkout: the import must come from the installed wheel
        env=airflow_env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "airflow-import-jobs" in listed.stdout
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", f"import {PACKAGE}; print({PACKAGE}.__file__)"],
        cwd=tmp_path,
        env=airflow_env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert str(venv) in where.stdout
