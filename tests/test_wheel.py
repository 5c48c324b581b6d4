"""A plain, non-editable install works: the wheel ships the schemas and runs without the repo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCHEMAS = sorted(
    p.relative_to(REPO / "schemas").as_posix() for p in (REPO / "schemas").rglob("*.json")
)

PROBE = """
import json, sys
from starlette.testclient import TestClient
import mockserver
from mockserver import create_app
from mockserver.config import Settings, default_schema_dir
from mockserver.schemas import load_bundle

bundle = load_bundle(None, "2026")
client = TestClient(create_app(Settings()), headers={"Authorization": "Bearer sk-ld-mock"})
created = client.post("/assistant/v1/create", json={"name": "From the wheel"})
assets = [client.get(f"/__admin/ui{path}") for path in ("", "/static/uPlot.iife.min.js")]
print(json.dumps({
    "inspector": [(a.status_code, len(a.content)) for a in assets],
    "module": mockserver.__file__,
    "schemas": str(default_schema_dir()),
    "operations": len(bundle.operations),
    "status": created.status_code,
    "repo_on_path": any(p.rstrip("/") == sys.argv[1] for p in sys.path),
}))
"""


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def pip(command: str, *args: str, cwd: Path) -> None:
    """Run pip offline: never the network, never a build environment of its own."""
    flags = ("--no-deps", "--no-index", "--disable-pip-version-check", "-q")
    result = run(sys.executable, "-m", "pip", command, *flags, *args, cwd=cwd)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built offline from the working tree with the installed backend."""
    out = tmp_path_factory.mktemp("wheel")
    pip("wheel", "--no-build-isolation", "-w", str(out), str(REPO), cwd=out)
    [path] = out.glob("langdock_mock-*.whl")
    return path


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel installed with --target into an empty folder (not the repo, not editable)."""
    target = tmp_path_factory.mktemp("target")
    pip("install", "--target", str(target), str(wheel), cwd=target)
    return target


def isolated_env(target: Path) -> dict[str, str]:
    """Only the install target and this environment's site-packages: never the repo."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "LANGDOCK_MOCK_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(target), sysconfig.get_paths()["purelib"]])
    return env


def test_the_wheel_ships_every_schema_file(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "mockserver/_schemas/api.json" in names
    missing = [name for name in SCHEMAS if f"mockserver/_schemas/{name}" not in names]
    assert missing == []
    assert "mockserver/py.typed" in names
    static = REPO / "mockserver" / "inspector" / "static"
    for asset in sorted(p.name for p in static.iterdir()):  # the page, uPlot and its licence
        assert f"mockserver/inspector/static/{asset}" in names
    assert "pytest_plugin/plugin.py" in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "langdock-mock = mockserver.cli:main" in text
    assert "langdock_mock = pytest_plugin.plugin" in text


def test_the_installed_package_checks_its_own_schemas(installed: Path, tmp_path: Path) -> None:
    env = isolated_env(installed)
    # -S: no site processing, so nothing but PYTHONPATH (target + site-packages) is importable.
    result = run(sys.executable, "-S", "-m", "mockserver", "check", cwd=tmp_path, env=env)
    assert (result.returncode, result.stdout) == (0, "schemas ok\n"), result.stderr


def test_the_installed_package_serves_from_the_packaged_schemas(
    installed: Path, tmp_path: Path
) -> None:
    env = isolated_env(installed)
    result = run(sys.executable, "-S", "-c", PROBE, str(REPO), cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout)
    assert probe["module"].startswith(str(installed))
    assert probe["schemas"] == str(installed / "mockserver" / "_schemas")
    assert probe["operations"] >= 6
    assert probe["status"] == 201
    assert [status for status, _ in probe["inspector"]] == [200, 200]  # assets from the wheel
    assert all(size > 1000 for _, size in probe["inspector"])
    assert probe["repo_on_path"] is False


def test_the_console_script_is_installed(installed: Path, tmp_path: Path) -> None:
    script = installed / "bin" / "langdock-mock"
    assert script.is_file()
    result = run(
        sys.executable, "-S", str(script), "--help", cwd=tmp_path, env=isolated_env(installed)
    )
    assert result.returncode == 0, result.stderr
    assert "serve" in result.stdout
