"""The ``kneerules`` command. The only module that turns errors into exit codes:
1 for a domain error (bad case, failing plugin), 2 for a usage error."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import click

from kneerules import __version__

if TYPE_CHECKING:
    from kneerules.engine import Engine

_DISABLE_HELP = ("Switch a plugin off by name (repeatable; also KNEERULES_DISABLE, comma-"
                 "separated). The safety plugin refuses.")


def _fail(error: Exception) -> NoReturn:
    raise click.ClickException(str(error))


def _disabled(option: Sequence[str]) -> tuple[str, ...]:
    from kneerules.plugins import disabled_from_env

    names = list(disabled_from_env())
    for value in option:
        names += [n for n in value.replace(",", " ").split() if n]
    return tuple(dict.fromkeys(names))


def build_engine(ruleset: str, disable: Sequence[str]) -> Engine:
    from kneerules.engine import Engine
    from kneerules.errors import KneerulesError

    try:
        return Engine(ruleset, disable=_disabled(disable))
    except KneerulesError as error:
        _fail(error)


def _read_input(path: str) -> tuple[str, bytes]:
    if path == "-":
        return "<stdin>", sys.stdin.buffer.read()
    try:
        with open(path, "rb") as handle:
            return path, handle.read()
    except OSError as error:
        raise click.BadParameter(f"cannot read {path!r}: {error.strerror}",
                                 param_hint="CASE") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kneerules")
def main() -> None:
    """Triage pain behind the knee from a patient's findings."""


@main.command("eval")
@click.argument("cases", nargs=-1, metavar="CASE...")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]),
              default="text", show_default=True, help="Output for a person or for a program.")
@click.option("--explain", is_flag=True, help="Also show every rule that fired, and why.")
@click.option("--why-not", "why_not", multiple=True, metavar="RULE_ID",
              help="Explain why a rule did not fire (repeatable); implies --explain.")
@click.option("--ruleset", default="posterior-knee", show_default=True,
              help="A shipped rule set's name, or the path of a rule-set file.")
@click.option("--disable", multiple=True, metavar="PLUGIN", help=_DISABLE_HELP)
@click.option("--jsonl", metavar="FILE|-", help="Read cases as JSON Lines (one case per line; "
              "- for standard input) and write one JSON assessment per line, in order; a bad "
              "line gives an error record {\"line\": N, \"error\": {\"problems\": [...]}}.")
@click.option("--jobs", type=click.IntRange(min=0), default=0, show_default=True,
              help="Processes for --jsonl; 0 means every core, 1 no extra process. Workers "
              "take 256 lines at a time: for a live feed answered line by line, use 1.")
@click.pass_context
def eval_command(ctx: click.Context, cases: tuple[str, ...], output_format: str, explain: bool,
                 why_not: tuple[str, ...], ruleset: str, disable: tuple[str, ...],
                 jsonl: str | None, jobs: int) -> None:
    """Assess each CASE (a case.json file, or - for standard input).

    With one case and --format json, prints the assessment object; with
    several, one assessment per line (JSON Lines). A bad case is reported on
    standard error and the others are still assessed; the exit code is 1 if
    any case failed. With --jsonl FILE instead of CASE..., assesses a whole
    batch on --jobs processes.
    """
    import json

    from kneerules.errors import CaseError, KneerulesError
    from kneerules.render import render_text

    if jsonl is not None:
        from click.core import ParameterSource

        text = ctx.get_parameter_source("output_format") != ParameterSource.DEFAULT
        if cases or explain or why_not or (text and output_format == "text"):
            raise click.UsageError("--jsonl writes JSON Lines: it takes no CASE, --explain, "
                                   "--why-not or --format text")
        _eval_jsonl(build_engine(ruleset, disable), jsonl, jobs)
        return
    if not cases:
        raise click.UsageError("Missing argument 'CASE...' (or give --jsonl FILE).")
    engine = build_engine(ruleset, disable)
    unknown = [r for r in why_not if r not in {rule.id for rule in engine.knowledge.rules}]
    if unknown:
        raise click.BadParameter(f"no rule with id {unknown[0]!r}", param_hint="--why-not")
    failed = False
    for path in cases:
        source, raw = _read_input(path)
        try:
            case = engine.parse(raw, source)
            assessment = engine.evaluate(case)
        except CaseError as error:
            failed = True
            for problem in error.problems:
                click.echo(f"{source}: {problem}", err=True)
            continue
        except KneerulesError as error:
            _fail(error)
        if output_format == "json":
            indent = 2 if len(cases) == 1 else None
            click.echo(json.dumps(assessment.to_dict(), indent=indent, ensure_ascii=False))
        else:
            if len(cases) > 1:
                click.echo(f"== {source}")
            click.echo(render_text(assessment, explain=explain or bool(why_not)), nl=False)
            if why_not:
                click.echo(_why_not_text(engine, case, why_not))
    if failed:
        sys.exit(1)


def _eval_jsonl(engine: Engine, path: str, jobs: int) -> None:
    import errno

    from kneerules.batch import Progress, assess_lines, count_lines
    from kneerules.errors import KneerulesError

    live = path == "-"
    try:
        handle = sys.stdin.buffer if live else open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as error:
        raise click.BadParameter(f"cannot read {path!r}: {error.strerror}",
                                 param_hint="--jsonl") from None
    progress = None
    if sys.stderr.isatty():
        progress = Progress(sys.stderr, None if live else count_lines(handle))
    failed = False
    out = sys.stdout
    try:
        for line, ok in assess_lines(engine, handle, jobs=jobs):
            out.write(line + "\n")
            if live:  # a live feed wants each answer as soon as it is ready
                out.flush()
            failed = failed or not ok
            if progress:
                progress.step()
    except KneerulesError as error:
        out.flush()
        _fail(error)
    except OSError as error:
        if error.errno == errno.EPIPE:  # the reader went away: click exits quietly
            raise
        raise click.ClickException(f"--jsonl streaming failed: {error.strerror}") from None
    finally:
        if progress:
            progress.close()
        if not live:
            handle.close()
    if failed:
        sys.exit(1)


def _why_not_text(engine: Engine, case: Any, rule_ids: Sequence[str]) -> str:
    from kneerules.logic import first_failure

    facts = case.facts()
    lines = ["", "Why not:"]
    for rule in engine.knowledge.rules:
        if rule.id in rule_ids:
            reason = first_failure(rule.when, facts)
            lines.append(f"  {rule.id} [plugin {rule.plugin}]: "
                         f"{reason or 'its condition holds; it waits on ' + ', '.join(rule.after)}")
    return "\n".join(lines)


@main.command("plugins")
@click.option("--disable", multiple=True, metavar="PLUGIN", help=_DISABLE_HELP)
@click.option("--ruleset", default="posterior-knee", show_default=True)
def plugins_command(disable: tuple[str, ...], ruleset: str) -> None:
    """List every loaded plugin with its version and the hooks it implements."""
    engine = build_engine(ruleset, disable)
    safety = engine.ruleset.safety
    for plugin in engine.knowledge.plugins:
        role = " (safety)" if plugin.name == safety else (
            " (essential)" if plugin.name in engine.ruleset.essential else "")
        click.echo(f"{plugin.name} {plugin.version}{role}  [{plugin.origin}]")
        click.echo(f"  hooks: {', '.join(plugin.hooks)}")


@main.command("rulesets")
def rulesets_command() -> None:
    """List the shipped rule sets."""
    from kneerules.engine import available_rulesets
    from kneerules.loading import load_ruleset

    for name, resource in available_rulesets().items():
        spec = load_ruleset(resource)
        click.echo(f"{name} {spec.version}: {', '.join(spec.plugins)}")


if __name__ == "__main__":  # pragma: no cover
    main()
