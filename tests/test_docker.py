"""The CI image: what the Dockerfile says; its install and start commands, run in a fresh venv."""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


def _instructions() -> list[tuple[str, str]]:
    """(KEYWORD, arguments) of each instruction, continuation lines joined, comments dropped."""
    joined: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    result = []
    for line in joined:
        keyword, _, args = line.partition(" ")
        result.append((keyword.upper(), args.strip()))
    return result


def _all(keyword: str) -> list[str]:
    return [args for key, args in _instructions() if key == keyword]


def _env() -> dict[str, str]:
    """Every ENV value of the image."""
    return _env_before("")


def _env_before(run: str) -> dict[str, str]:
    """The ENV values in force for a RUN instruction (those declared above it)."""
    env: dict[str, str] = {}
    for key, args in _instructions():
        if key == "RUN" and args == run:
            break
        if key == "ENV":
            for item in shlex.split(args):
                name, _, value = item.partition("=")
                env[name] = value
    return env


def _exec_form(args: str) -> list[str]:
    value = json.loads(args)  # exec form: the process gets SIGTERM itself, no shell between
    assert isinstance(value, list)
    return [str(part) for part in value]


def _ignored(relative: str) -> bool:
    """Whether .dockerignore keeps a path out of the build context (last matching line wins)."""
    verdict = False
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").rstrip("/")
        parts = relative.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if pattern.startswith("**/"):
            hit = any(fnmatch.fnmatchcase(part, pattern[3:]) for part in parts)
        else:
            hit = any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes)
        if hit:
            verdict = not negate
    return verdict


def _copy_sources() -> list[str]:
    sources = []
    for args in _all("COPY"):
        parts = [p for p in shlex.split(args) if not p.startswith("--")]
        sources.extend(parts[:-1])
    return sources


def test_the_image_is_slim_non_root_and_listens_on_8080() -> None:
    assert _all("FROM") == ["python:3.11-slim"]
    users = _all("USER")
    assert users, "the image must not run as root"
    assert users[-1].split(":")[0] == "1000"
    assert any("--uid 1000" in run for run in _all("RUN"))
    assert _all("EXPOSE") == ["8080"]
    env = _env()
    assert env["LANGDOCK_MOCK_HOST"] == "0.0.0.0"
    assert env["LANGDOCK_MOCK_PORT"] == "8080"
    assert env["LANGDOCK_MOCK_ADMIN_OPEN"] == "1"


def test_the_image_checks_health_without_curl_and_enters_through_serve() -> None:
    (healthcheck,) = _all("HEALTHCHECK")
    options, _, command = healthcheck.partition("CMD ")
    assert "--interval" in options
    assert _exec_form(command) == ["langdock-mock", "health"]
    assert not any("curl" in args for _, args in _instructions())
    (entrypoint,) = _all("ENTRYPOINT")
    assert _exec_form(entrypoint) == ["langdock-mock", "serve"]
    assert _all("STOPSIGNAL") in ([], ["SIGTERM"])
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["langdock-mock"] == "mockserver.cli:main"


def test_the_build_context_is_an_allow_list() -> None:
    sources = _copy_sources()
    assert set(sources) >= {"pyproject.toml", "README.md", "mockserver", "pytest_plugin", "schemas"}
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not _ignored(source), f"{source} is copied but .dockerignore leaves it out"
    for left_out in ("tests/test_docker.py", ".git/HEAD", "bench", "examples/node", "Dockerfile"):
        assert _ignored(left_out), left_out
    assert _ignored("mockserver/__pycache__/cli.cpython-311.pyc")
    assert not _ignored("schemas/api.json")
    assert any(_all("RUN")), "the image installs the package"
    (install,) = [run for run in _all("RUN") if "pip install" in run]
    assert install == "pip install --no-cache-dir ."


def _context(target: Path) -> None:
    """The build context as Docker would send it: the COPY sources, minus what is ignored."""
    for source in _copy_sources():
        origin = ROOT / source
        if origin.is_file():
            shutil.copy2(origin, target / source)
            continue
        for path in origin.rglob("*"):
            relative = path.relative_to(ROOT).as_posix()
            if path.is_file() and not _ignored(relative):
                (target / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target / relative)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv (no system site-packages) with the package installed by the RUN line."""
    base = tmp_path_factory.mktemp("image")
    context = base / "src"
    context.mkdir()
    _context(context)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    (install,) = [run for run in _all("RUN") if "pip install" in run]
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "VIRTUAL_ENV") and not key.startswith("LANGDOCK_MOCK_")
    }
    env.update(_env_before(install))
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    # Speed only: the image compiles bytecode at build time, which this throw-away venv can skip.
    env["PIP_NO_COMPILE"] = "1"
    result = subprocess.run(
        ["sh", "-c", install],
        cwd=context,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return venv


@pytest.mark.docker
def test_the_image_commands_install_start_answer_health_and_stop_on_sigterm(
    image_venv: Path, tmp_path: Path
) -> None:
    bin_dir = image_venv / "bin"
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "VIRTUAL_ENV") and not key.startswith("LANGDOCK_MOCK_")
    }
    env.update(_env())
    env["LANGDOCK_MOCK_PORT"] = str(port)  # the only change from the image: a free port
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    command = _exec_form(_all("ENTRYPOINT")[0])
    # Outside the source tree, so only the installed package (with its schemas) can answer.
    with subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert f"listening on http://0.0.0.0:{port}" in line
            assert "API key: sk-ld-mock" in line
            url = f"http://127.0.0.1:{port}"
            health = httpx.get(f"{url}/__admin/health", timeout=5)
            assert health.status_code == 200
            assert health.json()["status"] == "ok"
            models = httpx.get(
                f"{url}/assistant/v1/models",
                headers={"Authorization": "Bearer sk-ld-mock"},
                timeout=5,
            )
            assert models.status_code == 200
            assert models.json()["object"] == "list"
            healthcheck = _exec_form(_all("HEALTHCHECK")[0].partition("CMD ")[2])
            probe = subprocess.run(
                healthcheck, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30
            )
            assert probe.returncode == 0, probe.stderr
            assert probe.stdout.strip() == "healthy"
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=15) == 0
        finally:
            if process.poll() is None:
                process.kill()
    # Nothing listens any more: the health check now says so.
    probe = subprocess.run(
        healthcheck, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30
    )
    assert probe.returncode != 0
    assert "unhealthy" in probe.stderr
