"""``kneerules audit``: the ``kneerules.integrations`` entry point ``population``.

Light on purpose: the CLI imports this module on every start, so Dask and pyarrow are
imported only inside the command, and their absence is reported naming the extra."""

from __future__ import annotations

import importlib.util
import pathlib
import signal
import sys
import time

import click

from kneerules.cli.params import engine_options, parse_index_time
from kneerules.hookspecs import hookimpl

_PARQUET = (".parquet", ".pq")


def _require(module: str, extra: str, why: str) -> None:
    if importlib.util.find_spec(module) is None:
        from kneerules.model.messages import install_extra

        raise click.UsageError(f"{why} needs {module}, which is not installed: "
                               f"{install_extra(extra)}")


@click.command("audit")
@click.argument("paths", nargs=-1, required=True, metavar="INPUT...",
                type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path))
@click.option("--out", "out", required=True, metavar="DIR",
              type=click.Path(file_okay=False, path_type=pathlib.Path),
              help="Where to write assessments/, summary.json and report.html.")
@click.option("--scheduler", metavar="ADDRESS", help="A running Dask scheduler (e.g. "
              "tcp://10.0.0.5:8786); its workers must see INPUT and DIR at the same paths. "
              "Default: start a cluster of --workers processes on 127.0.0.1.")
@click.option("--workers", type=click.IntRange(min=1), default=None, metavar="N",
              help="Worker processes of the cluster started here (one thread each). "
              "[default: every core]")
@click.option("--compare", "compare", metavar="OTHER_RULESET", help="Also evaluate every "
              "case with this rule set (name or file) and list each case whose timeframe "
              "or leading condition changes (changes/ and the report).")
@engine_options
@click.option("--format", "output_format", type=click.Choice(["parquet", "jsonl"]),
              default="parquet", show_default=True, help="Format of the output tables.")
@click.option("--at", "at", metavar="DATETIME", help="The index time FHIR Bundles are read "
              "at, ISO 8601 with its zone (2024-09-01T10:00:00Z).  [default: now]")
@click.option("--overwrite", is_flag=True, help="Replace what --out holds (a previous "
              "run) once this run completes; without it, a non-empty --out is refused.")
@click.option("--partition-size", type=click.IntRange(min=1), default=2000, show_default=True,
              metavar="N", help="Cases per Dask task.")
def audit_command(paths: tuple[pathlib.Path, ...], out: pathlib.Path, scheduler: str | None,
                  workers: int | None, compare: str | None, ruleset: str,
                  disable: tuple[str, ...], output_format: str, at: str | None,
                  overwrite: bool, partition_size: int) -> None:
    """Assess a population of cases on Dask and write a summary and a report.

    Each INPUT is JSON Lines (.jsonl, .ndjson: one case per line, as `eval --jsonl`),
    Parquet (.parquet: one column per finding, nullable booleans, null = unknown;
    columns case_id, patient.age, patient.sex, onset, side and measurements too), a
    FHIR R4 Bundle (.json: one patient) or FHIR Bundles one per line (.fhir.jsonl).
    A bad case becomes an error row and the rest go on; the exit code is then 1.
    The run is written beside DIR and moved into place when it completes: an
    interrupted run is left marked UNFINISHED, DIR untouched.
    """
    if scheduler is not None and workers is not None:
        raise click.UsageError("--workers sizes the cluster started here; a --scheduler's "
                               "cluster has its own workers")
    _require("distributed", "dask", "kneerules audit")
    if output_format == "parquet" or any(p.suffix.lower() in _PARQUET for p in paths):
        _require("pyarrow", "parquet", "Parquet input or output (--format parquet)")
    from kneerules.knowledge.config import EngineConfig
    from kneerules.knowledge.plugins import disabled_from_env
    from kneerules.model.errors import KneerulesError
    from kneerules.population.run import OutputNotEmpty, audit

    names = [*disabled_from_env(), *(n for v in disable for n in v.replace(",", " ").split())]
    config = EngineConfig(ruleset, disable=tuple(dict.fromkeys(names)))
    when = parse_index_time(at)
    began = time.perf_counter()
    progress = _progress()
    # A plain `kill` stops the cluster as Ctrl-C does, instead of orphaning its workers.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        result = audit(paths, out, config=config, compare=compare, scheduler=scheduler,
                       workers=workers, partition_size=partition_size,
                       output_format=output_format, at=when,  # type: ignore[arg-type]
                       overwrite=overwrite, progress=progress)
    except OutputNotEmpty as error:
        raise click.UsageError(str(error)) from None
    except KneerulesError as error:
        raise click.ClickException(_with_notes(error)) from None
    except KeyboardInterrupt as error:
        click.echo("\nkneerules audit: interrupted; the cluster it started is stopped; "
                   + _with_notes(error, "").lstrip("; "), err=True)
        sys.exit(130)
    finally:
        if progress is not None:
            progress.close()
    took = time.perf_counter() - began
    summary = result.summary
    if summary["workers"]["with_malloc_trim_threshold"]:
        click.echo(f"kneerules audit: warning: {summary['workers']['with_malloc_trim_threshold']}"
                   " workers run with MALLOC_TRIM_THRESHOLD_ set, which slows evaluation; see "
                   "docs/population.md", err=True)
    click.echo(f"{summary['cases']} cases ({summary['assessed']} assessed, "
               f"{summary['errors']} errors) in {took:.1f} s, "
               f"{summary['cases'] / max(took, 1e-9):,.0f} cases/s")
    if "compare" in summary:
        click.echo(f"{summary['compare']['changed']} cases change timeframe or leading "
                   f"condition with {compare}: {result.out / 'changes'}")
    click.echo(f"report: {result.report}")
    if summary["errors"]:
        sys.exit(1)


def _with_notes(error: BaseException, text: str | None = None) -> str:
    notes = getattr(error, "__notes__", ())
    return "; ".join([str(error) if text is None else text, *notes])
class _Progress:
    """``eval --jsonl``'s progress line (kneerules.jsonl.Progress), fed by the audit as each
    Dask task completes (distributed.as_completed): cases done, rate, time left, workers."""

    def __init__(self) -> None:
        from kneerules.batch.jsonl import Progress

        self.line = Progress(sys.stderr)
        self.started = False

    def __call__(self, done: int, total: int, workers: int) -> None:
        self.started = True
        self.line.total = total
        self.line.workers = workers
        self.line.step(done - self.line.done)

    def close(self) -> None:
        if self.started:
            self.line.close()


def _progress() -> _Progress | None:
    """Progress on a terminal only: nothing extra in a pipe, a file or a log."""
    if sys.stderr is None or not sys.stderr.isatty():
        return None
    return _Progress()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@hookimpl
def kneerules_register_commands(cli: click.Group) -> None:
    cli.add_command(audit_command)
