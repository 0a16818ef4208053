"""``kneerules questionnaire`` and ``kneerules fhir-case`` (added by
:mod:`kneerules.fhir.plugin`). FHIR code and libraries are imported inside the commands."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import click

from kneerules.cli.params import parse_index_time
from kneerules.model.messages import install_extra

_EXTRA = install_extra("fhir")


def require_fhir_library() -> Any:
    """fhir.resources' R4B models, or a clear error naming the extra to install."""
    try:
        import fhir.resources.R4B as r4b
    except ImportError:
        raise click.ClickException(f"this command needs the FHIR extra: {_EXTRA}") from None
    return r4b


@click.command("questionnaire")
@click.option("--ruleset", default="posterior-knee", show_default=True,
              help="The rule set whose plugins' vocabulary the questionnaire asks about.")
@click.option("--disable", multiple=True, metavar="PLUGIN", help="Leave a plugin out.")
def questionnaire_command(ruleset: str, disable: Sequence[str]) -> None:
    """Print the FHIR R4 Questionnaire of the installed vocabulary (JSON).

    One item per finding (linkId = its name, boolean), measurements as decimals, age
    as an integer, sex, onset and side as choices. Checked against the FHIR R4
    structure (fhir.resources R4B) before it is printed. A QuestionnaireResponse to
    it maps back to a case (``kneerules eval --fhir``), unanswered items unknown.
    """
    import json

    from kneerules.cli.params import build_engine
    from kneerules.fhir.questionnaire import build_questionnaire
    from kneerules.fhir.strict import check_resource
    from kneerules.model.version import __version__

    require_fhir_library()
    engine = build_engine(ruleset, disable)
    questionnaire = build_questionnaire(engine.vocabulary, __version__)
    problems = check_resource(questionnaire)
    if problems:  # our own bug, never the user's: say so plainly
        raise click.ClickException("the generated Questionnaire is not valid FHIR R4: "
                                   + "; ".join(str(p) for p in problems))
    click.echo(json.dumps(questionnaire, indent=2, ensure_ascii=False))


@click.command("fhir-case")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--at", "at", metavar="DATETIME",
              help="The index time (ISO 8601 with its zone); default: now.")
@click.option("--ruleset", default="posterior-knee", show_default=True)
@click.option("--disable", multiple=True, metavar="PLUGIN", help="Leave a plugin out.")
def fhir_case_command(path: str, at: str | None, ruleset: str, disable: Sequence[str]) -> None:
    """Map a FHIR R4 Bundle (or resource, or list) to a case and print it with the
    provenance of every field and the conflicts left unknown (JSON)."""
    import json

    from kneerules.cases.validation import parse_json, read_limited
    from kneerules.cli.params import build_engine
    from kneerules.fhir.reader import read_fhir
    from kneerules.knowledge.readers import record_limit
    from kneerules.model.errors import CaseError, KneerulesError

    when = parse_index_time(at) or datetime.now(UTC)
    engine = build_engine(ruleset, disable)
    limit = record_limit(engine.max_bytes)  # the limit of `eval --fhir`
    source = "<stdin>" if path == "-" else path
    try:
        # One byte past the limit is enough to refuse it, however large the input is.
        raw = (sys.stdin.buffer.read(limit + 1) if path == "-"
               else read_limited(path, limit, regular_only=False))
        mapped = read_fhir(engine, parse_json(raw, source, max_bytes=limit), at=when)
    except CaseError as error:
        for problem in error.problems:
            click.echo(f"{source}: {problem}", err=True)
        sys.exit(1)
    except KneerulesError as error:
        raise click.ClickException(str(error)) from None
    click.echo(json.dumps(mapped.to_dict(), indent=2, ensure_ascii=False))
