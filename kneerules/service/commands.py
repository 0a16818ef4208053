"""``kneerules serve`` and ``kneerules feedback``. Light: the service's dependencies load
inside the commands, so every other ``kneerules`` command starts without them."""

from __future__ import annotations

import click

from kneerules.hookspecs import hookimpl
from kneerules.model.messages import install_extra

_MISSING = ("the CDS Hooks service needs its extra: " + install_extra("service")
            + " (missing: {name})")


def _require_extra() -> None:
    try:
        import jwt  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as error:
        raise click.ClickException(_MISSING.format(name=error.name)) from None


def _config(path: str) -> object:
    from kneerules.service.config import ServiceConfigError, load_config

    try:
        return load_config(path)
    except ServiceConfigError as error:
        raise click.ClickException(str(error)) from None


@click.command("serve")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False),
              help="The service's YAML configuration (see examples/service.yaml).")
@click.option("--host", help="Listen on this address instead of the configured one.")
@click.option("--port", type=click.IntRange(0, 65535), help="Listen on this port instead.")
@click.option("--workers", type=click.IntRange(min=1),
              help="Worker processes instead of the configured number.")
@click.option("--fd", type=click.IntRange(min=0), metavar="FD",
              help="Serve on an already bound socket (file descriptor) instead.")
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
def serve_command(config_path: str, host: str | None, port: int | None, workers: int | None,
                  fd: int | None, log_level: str) -> None:
    """Serve kneerules as a CDS Hooks 2.0 service (patient-view and encounter-start).

    Every call must carry a JWT signed by a configured issuer; see docs/service.md.
    `--log-level info` logs the reason of every refused call (401).
    """
    _require_extra()
    from kneerules.model.errors import KneerulesError
    from kneerules.service.app import create_app
    from kneerules.service.config import ServiceConfig, memory_store_problem
    from kneerules.service.server import run

    config = _config(config_path)
    assert isinstance(config, ServiceConfig)
    workers = workers or config.workers
    if config.store == ":memory:" and workers > 1:
        raise click.ClickException(f"store: {memory_store_problem(workers)}")
    # Built once here so that a broken rule set or plugin fails now, with a clear message,
    # and not inside each worker.
    try:
        app = create_app(config)
    except KneerulesError as error:
        raise click.ClickException(str(error)) from None
    run(app, config_path, workers=workers, host=host or config.host,
        port=config.port if port is None else port, fd=fd, log_level=log_level,
        limits=config.limits,
        paths=("/cds-services", *(f"/cds-services/{config.hook_id(h)}" for h in config.hooks)))


@click.command("feedback")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False),
              help="The service's configuration (names the store).")
def feedback_command(config_path: str) -> None:
    """Print the feedback EHRs sent: what was overridden and why, by rule."""
    from pathlib import Path

    from kneerules.service.config import ServiceConfig

    config = _config(config_path)
    assert isinstance(config, ServiceConfig)
    if not Path(config.store).is_file():
        raise click.ClickException(f"no feedback store at {config.store} (has the service "
                                   "run with this configuration?)")
    from kneerules.service.feedback import overrides_by_rule
    from kneerules.service.store import Store

    store = Store(config.store)
    try:
        click.echo(overrides_by_rule(store.feedback()), nl=False)
    finally:
        store.close()


@hookimpl
def kneerules_register_commands(cli: click.Group) -> None:
    cli.add_command(serve_command)
    cli.add_command(feedback_command)
