"""The langdock-mock command line: serve, health, check, routes, openapi, verify."""

from __future__ import annotations

import signal
import sys
import threading
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import click

from mockserver import __version__
from mockserver.config import ENV_PREFIX, Settings, load_settings
from mockserver.errors import MockServerError

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])


def _option(name: str, *decls: str, **kwargs: Any) -> Callable[[F], F]:
    env = ENV_PREFIX + name.upper()
    help_text = kwargs.pop("help")
    return click.option(
        *decls, name, default=None, show_envvar=False, help=f"{help_text} [env: {env}]", **kwargs
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="langdock-mock")
def cli() -> None:
    """langdock-mock: a contract-testing mock of the Langdock Assistant and Agents API.

    Every option also reads a LANGDOCK_MOCK_* environment variable and the TOML file given with
    --config; precedence is option > variable > file > embedded default.
    """


@cli.command()
@_option("host", "--host", help="Address to bind (default 127.0.0.1; 0.0.0.0 in Docker).")
@_option("port", "--port", type=int, help="Port (default 8080).")
@_option("config", "--config", type=click.Path(dir_okay=False), help="TOML configuration file.")
@_option("seed", "--seed", type=int, help="Seed for ids, replies and fault draws (default 0).")
@_option("profile", "--profile", type=click.Choice(["seed", "2026"]), help="Contract profile.")
@_option("strict", "--strict/--no-strict", help="Unknown request fields are 400s, not warnings.")
@_option("api_key", "--api-key", help="The embedded admin key (default sk-ld-mock).")
@_option(
    "rate_limit_headers",
    "--rate-limit-headers/--no-rate-limit-headers",
    help="Send Retry-After and X-RateLimit-* (the real API sends none).",
)
@_option(
    "rate_limits", "--rate-limits/--no-rate-limits", help="Enforce RPM/TPM limits (default on)."
)
@_option(
    "default_rpm", "--rpm", type=int, help="Requests per minute per workspace and model (500)."
)
@_option(
    "default_tpm", "--tpm", type=int, help="Tokens per minute per workspace and model (60000)."
)
@_option(
    "limits",
    "--limit",
    multiple=True,
    help="Limits of one workspace, WORKSPACE[/MODEL]:rpm=N,tpm=M; repeatable; the variable "
    "takes several separated by spaces.",
)
@_option(
    "freeze_clock",
    "--freeze-clock/--no-freeze-clock",
    help="Start with the mock clock frozen (move it with POST /__admin/clock).",
)
@_option(
    "unshared_status",
    "--unshared-status",
    type=click.Choice(["403", "404"]),
    help="Status for an assistant that exists but is not shared with the key (404).",
)
@_option(
    "max_body_bytes", "--max-body-bytes", type=int, help="Request body limit; 413 above (1 MiB)."
)
@_option(
    "max_upload_bytes",
    "--max-upload-bytes",
    type=int,
    help="Attachment upload limit; 413 above (20 MiB).",
)
@_option(
    "max_knowledge_bytes",
    "--max-knowledge-bytes",
    type=int,
    help="Knowledge folder upload limit; 413 above (256 MiB, streamed to disk).",
)
@_option(
    "stream_chunk_chars",
    "--stream-chunk-chars",
    type=int,
    help="Characters per streamed text chunk (16).",
)
@_option(
    "stream_delay_ms",
    "--stream-delay-ms",
    type=int,
    help="Pause before each streamed text chunk, in ms (0); time to first token is one pause.",
)
@_option("admin_token", "--admin-token", help="Require this token on every /__admin call.")
@_option(
    "admin_open",
    "--admin-open/--no-admin-open",
    help="Answer /__admin from any address, not only loopback (for containers).",
)
@_option(
    "allow_browser",
    "--allow-browser/--no-allow-browser",
    help="Serve browser requests (Origin, CORS preflight) for local front-end work; "
    "refused with 403 by default, as the real API does.",
)
@_option(
    "allow_fault_header",
    "--allow-fault-header/--no-allow-fault-header",
    help="Honour the X-Mock-Fault request header.",
)
@_option(
    "check_responses",
    "--check-responses/--no-check-responses",
    help="Validate every response against its schema; a mismatch is a loud 500.",
)
@_option("journal_size", "--journal-size", type=int, help="Journal entries kept (1000).")
@_option(
    "chars_per_token",
    "--chars-per-token",
    type=int,
    help="Characters per estimated token for TPM (4).",
)
@_option(
    "schema_dir",
    "--schemas",
    type=click.Path(file_okay=False),
    help="Schema folder (default: the packaged copy).",
)
@_option(
    "store",
    "--store",
    help="Where the state lives: memory (default) or redis://HOST:PORT/DB, shared by replicas.",
)
@_option(
    "store_namespace",
    "--store-namespace",
    help="Key prefix in the shared store, so suites share one Redis apart (langdock-mock).",
)
@_option(
    "workers",
    "--workers",
    type=int,
    help="Worker processes (1); more than one needs --store redis://HOST:PORT/DB.",
)
@_option(
    "replay",
    "--replay",
    type=click.Path(dir_okay=False),
    help="Answer from this recording (JSON lines or HAR) instead of the emulation.",
)
@_option(
    "replay_match",
    "--replay-match",
    type=click.Choice(["exact", "operation"]),
    help="exact: operation and normalised body (default); operation: the operation only.",
)
@_option(
    "replay_ignore",
    "--replay-ignore",
    multiple=True,
    help="A body path exact matching ignores, e.g. messages.*.id; repeatable.",
)
@_option(
    "replay_speed",
    "--replay-speed",
    type=float,
    help="Recorded stream pauses divided by this (1: as recorded; 0: no pauses).",
)
@_option(
    "replay_auth",
    "--replay-auth/--no-replay-auth",
    help="Check keys and scopes in replay (default on; rate limits: --no-rate-limits).",
)
@click.option(
    "--open",
    "open_inspector",
    is_flag=True,
    default=False,
    help="Open the inspector (/__admin/ui) in a browser once the server listens.",
)
def serve(open_inspector: bool, **options: Any) -> None:
    """Run the mock server until interrupted (SIGTERM/SIGINT stop it gracefully)."""
    config = options.pop("config")
    if options.get("unshared_status") is not None:
        options["unshared_status"] = int(options["unshared_status"])
    try:
        settings = load_settings(config, overrides=_given(options))
        if settings.replay is not None:  # one process: refuses --store and so --workers
            from mockserver.asgi.replay_app import create_replay_app

            app: Any = create_replay_app(settings)
        elif settings.workers > 1:
            _serve_workers(settings, open_inspector)
            return
        else:
            from mockserver.asgi.app import create_app

            app = create_app(settings)
    except MockServerError as error:
        raise click.ClickException(str(error)) from None
    _run(
        app, settings, "off", f"(profile {settings.profile}, seed {settings.seed})", open_inspector
    )


def _given(options: dict[str, Any]) -> dict[str, Any]:
    # A repeatable option not given is (), which must not hide the variable's or file's value.
    return {name: value for name, value in options.items() if value != ()}


def _run(
    app: Any,
    settings: Settings,
    lifespan: Literal["on", "off"],
    detail: str,
    open_inspector: bool = False,
) -> None:
    """Serve ``app`` with uvicorn, announcing the bound URL, until SIGTERM or SIGINT."""
    import uvicorn

    class Announcing(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            # With --port 0 the system picks the port: announce the one actually bound.
            bound = [s.getsockname() for srv in self.servers for s in srv.sockets or ()]
            _announce(settings, bound[0][1] if bound else settings.port, detail, open_inspector)

    server = Announcing(
        uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            access_log=False,
            lifespan=lifespan,
            timeout_graceful_shutdown=10,
        )
    )
    # uvicorn re-raises SIGTERM after its graceful shutdown, which would end the process as
    # "killed"; a requested stop is a success for Docker and CI, so it exits 0 instead.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    server.run()


def _announce(
    settings: Settings, port: int, detail: str = "", open_inspector: bool = False
) -> None:
    detail = detail or f"(profile {settings.profile}, seed {settings.seed})"
    click.echo(
        f"langdock-mock {__version__} listening on http://{settings.host}:{port} "
        f"{detail} API key: {settings.api_key}",
        err=False,
    )
    ui = _inspector_url(settings.host, port)
    hint = " (first visit: add ?token=<admin token>)" if settings.admin_token else ""
    click.echo(f"inspector: {ui}{hint}")
    sys.stdout.flush()
    if open_inspector:
        token = f"?token={quote(settings.admin_token)}" if settings.admin_token else ""
        # A thread: some browsers' launchers block until the browser exits.
        threading.Thread(target=webbrowser.open, args=(ui + token,), daemon=True).start()


def _serve_workers(settings: Settings, open_inspector: bool) -> None:
    """uvicorn's worker processes on one socket; each builds its app from the settings."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from mockserver.asgi import workers

    config = uvicorn.Config(
        "mockserver.asgi.workers:app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=10,
    )
    workers.hand_over(settings)
    sock = config.bind_socket()
    _announce(settings, sock.getsockname()[1], open_inspector=open_inspector)
    Multiprocess(config, sockets=[sock]).run()


def _json_or_empty(raw: bytes) -> dict[str, Any]:
    import json

    try:
        found = json.loads(raw)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _inspector_url(host: str, port: int) -> str:
    # A wildcard bind is reachable on loopback, where the inspector's guard lets a browser in.
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    shown = f"[{shown}]" if ":" in shown else shown
    return f"http://{shown}:{port}/__admin/ui"


@cli.command()
@_option("host", "--host", help="Address to bind (default 127.0.0.1).")
@_option("port", "--port", type=int, help="Port (default 8080).")
@_option("config", "--config", type=click.Path(dir_okay=False), help="TOML configuration file.")
@_option("upstream", "--upstream", help="The API to forward to (https://api.langdock.com).")
@_option(
    "validate",
    "--validate",
    type=click.Choice(["warn", "enforce"]),
    help="warn: forward everything, name what is wrong (default); enforce: 400 bad requests "
    "without forwarding them.",
)
@_option("record", "--record", type=click.Path(dir_okay=False), help="Append every exchange here.")
@_option(
    "record_format",
    "--record-format",
    type=click.Choice(["jsonl", "har"]),
    help="Recording format (jsonl: what verify and replay read; har: HAR 1.2).",
)
@_option(
    "redact",
    "--redact",
    multiple=True,
    help="A body path recorded as [redacted], e.g. messages.*.content; repeatable.",
)
@_option(
    "upstream_timeout",
    "--upstream-timeout",
    type=float,
    help="Seconds the upstream may stay silent (read, write), then 504 (60).",
)
@_option(
    "upstream_connect_timeout",
    "--upstream-connect-timeout",
    type=float,
    help="Seconds to connect to the upstream, then 504 (10).",
)
@_option("profile", "--profile", type=click.Choice(["seed", "2026"]), help="Contract profile.")
@_option("strict", "--strict/--no-strict", help="Unknown request fields count as violations.")
@_option("max_body_bytes", "--max-body-bytes", type=int, help="Request body limit (1 MiB).")
@_option("journal_size", "--journal-size", type=int, help="Journal entries kept (1000).")
@_option("admin_token", "--admin-token", help="Require this token on every /__admin call.")
@_option(
    "schema_dir",
    "--schemas",
    type=click.Path(file_okay=False),
    help="Schema folder (default: the packaged copy).",
)
def proxy(**options: Any) -> None:
    """Forward the API to --upstream, checking requests and responses against the contract.

    Drift is named in X-Mock-Drift (responses) and X-Mock-Warnings (requests) and kept in the
    journal (GET /__admin/requests); --record keeps every exchange for verify and replay.
    """
    config = options.pop("config")
    try:
        settings = load_settings(config, overrides=_given(options))
        from mockserver.asgi.proxy_app import create_proxy_app

        app = create_proxy_app(settings)
    except MockServerError as error:
        raise click.ClickException(str(error)) from None
    _run(app, settings, "on", f"(proxy to {settings.upstream}, validate {settings.validate})")


@cli.command()
@click.option(
    "--url", default=None, help="Base URL (default http://127.0.0.1:$LANGDOCK_MOCK_PORT)."
)
@click.option("--timeout", default=3.0, show_default=True, help="Seconds to wait for an answer.")
def health(url: str | None, timeout: float) -> None:
    """Exit 0 if a server answers /__admin/health (the Docker HEALTHCHECK)."""
    import os
    import urllib.error
    import urllib.request

    if url is None:
        url = f"http://127.0.0.1:{os.environ.get(ENV_PREFIX + 'PORT', '8080')}"
    request = urllib.request.Request(url.rstrip("/") + "/__admin/health")
    token = os.environ.get(ENV_PREFIX + "ADMIN_TOKEN")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # Reason: our own URL.
            ok = response.status == 200
    except urllib.error.HTTPError as error:
        # A 503 names what is down: the shared store, when the server runs with one.
        store = _json_or_empty(error.read()).get("store") or {}
        if store.get("status") == "down":
            raise click.ClickException(f"unhealthy: store down ({store.get('kind')})") from None
        raise click.ClickException(f"unhealthy: {error}") from None
    except OSError as error:
        raise click.ClickException(f"unhealthy: {error}") from None
    if not ok:
        raise click.ClickException("unhealthy")
    click.echo("healthy")


@cli.command()
@click.option(
    "--schemas",
    "schema_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Schema folder (default: the packaged copy).",
)
def check(schema_dir: str | None) -> None:
    """Validate every schema file and the manifest for every profile; exit 1 on a problem."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError as MetaSchemaError

    from mockserver.schemas import load_bundle

    problems = 0
    root = Path(schema_dir) if schema_dir else None
    for profile in ("seed", "2026"):
        try:
            bundle = load_bundle(root, profile)
            for name, document in bundle.documents.items():
                # One broken file must not hide the next: report each and go on.
                try:
                    Draft202012Validator.check_schema(document)
                    bundle.validator(name)
                except MetaSchemaError as error:
                    problems += 1
                    click.echo(f"{profile}: {name}: {error.message}", err=True)
                except MockServerError as error:
                    problems += 1
                    click.echo(f"{profile}: {error}", err=True)
        except MockServerError as error:
            problems += 1
            click.echo(f"{profile}: {error}", err=True)
    if problems:
        raise SystemExit(1)
    click.echo("schemas ok")


@cli.command()
@click.option("--profile", type=click.Choice(["seed", "2026"]), default="seed", show_default=True)
def routes(profile: str) -> None:
    """List the operations the mock serves."""
    from mockserver.schemas import load_bundle

    bundle = load_bundle(None, profile)
    for op in bundle.operations.values():
        scope = op.scope or "-"
        click.echo(f"{op.method:6} {op.path:36} {op.id:28} {scope}")


_PROFILE = click.option(
    "--profile", type=click.Choice(["seed", "2026"]), default="seed", show_default=True
)
_SCHEMAS = click.option(
    "--schemas",
    "schema_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Schema folder (default: the packaged copy).",
)


@cli.command()
@_PROFILE
@_SCHEMAS
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write here, not stdout.")
def openapi(profile: str, schema_dir: str | None, output: str | None) -> None:
    """Print the OpenAPI 3.1 document generated from the schemas of a profile."""
    import json

    from mockserver.contract.openapi import build_openapi
    from mockserver.schemas import load_bundle

    try:
        document = build_openapi(load_bundle(Path(schema_dir) if schema_dir else None, profile))
    except MockServerError as error:
        raise click.ClickException(str(error)) from None
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        Path(output).write_text(text, encoding="utf-8")


@cli.command()
@click.argument("recording", type=click.Path(dir_okay=False))
@_PROFILE
@_SCHEMAS
@click.option("--json", "as_json", is_flag=True, help="Print the reports as JSON.")
@click.option(
    "--ignore-unknown", is_flag=True, help="Skip requests to paths the contract does not list."
)
def verify(
    recording: str, profile: str, schema_dir: str | None, as_json: bool, ignore_unknown: bool
) -> None:
    """Compare recorded real exchanges (HAR or JSON lines) with the contract; exit 1 on drift.

    Each JSON line (or array item) is {method, path, status, request_body, response_body}.
    Exit status: 0 no drift, 1 drift, 2 unreadable recording.
    """
    import json

    from mockserver.contract.drift import (
        check_exchanges,
        format_reports,
        read_exchanges,
        reports_json,
    )
    from mockserver.schemas import load_bundle

    try:
        exchanges = read_exchanges(recording)
        bundle = load_bundle(Path(schema_dir) if schema_dir else None, profile)
    except MockServerError as error:
        click.echo(f"langdock-mock verify: {error}", err=True)
        raise SystemExit(2) from None
    reports = check_exchanges(bundle, exchanges, ignore_unknown=ignore_unknown)
    if as_json:
        click.echo(json.dumps(reports_json(reports, profile), indent=2))
    else:
        click.echo(format_reports(reports, profile))
    raise SystemExit(1 if any(r.drift for r in reports) else 0)


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``langdock-mock`` and ``python -m mockserver``."""
    cli.main(args=argv, prog_name="langdock-mock")
