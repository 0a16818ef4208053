"""``kneerules book``: registered under the ``kneerules.integrations`` entry points.

Light on purpose (the CLI imports it on every start): the book's modules are imported
inside the command."""

from __future__ import annotations

import pathlib

import click

from kneerules.cli.params import engine_options
from kneerules.hookspecs import hookimpl


@click.command("book")
@click.option("--out", "out", required=True, metavar="DIR",
              type=click.Path(file_okay=False, path_type=pathlib.Path),
              help="Where to write index.html (the book) and book.json (its data).")
@engine_options
@click.option("--hazard-log", "hazard_log", metavar="FILE",
              type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path),
              help="The hazard log (DCB0129 YAML). [default: docs/safety/hazard-log.yaml "
              "in this folder or one above, if there is one]")
@click.option("--diff", "against", metavar="OLD",
              help="An earlier book's folder (its book.json), or another rule set (name or "
              "file): write diff.html and diff.json, what changed from OLD to this one.")
def book_command(out: pathlib.Path, ruleset: str, disable: tuple[str, ...],
                 hazard_log: pathlib.Path | None, against: str | None) -> None:
    """Write the rule book of a rule set: every condition, rule (in plain words, with its
    timeframe, because, source and priority), score, advice, the triage policy, the
    hazard log with the rules and tests that control each hazard, the plugins and a
    content hash; one static HTML page with its own search, nothing fetched."""
    from kneerules.book.build import (
        default_hazard_log,
        make_book,
        read_book,
        write_book,
        write_diff,
    )
    from kneerules.book.data import BookError
    from kneerules.book.diff import diff_text
    from kneerules.engine import Engine
    from kneerules.knowledge.config import EngineConfig
    from kneerules.knowledge.plugins import disabled_from_env
    from kneerules.model.errors import KneerulesError

    names = [*disabled_from_env(), *(n for v in disable for n in v.replace(",", " ").split())]
    log = hazard_log or default_hazard_log()
    try:
        engine = Engine.from_config(EngineConfig(ruleset, disable=tuple(dict.fromkeys(names))))
        book = make_book(engine.knowledge, log)
        old = None
        if against is not None:
            folder = pathlib.Path(against)
            if folder.is_dir():
                old = read_book(folder)
            else:
                other = Engine.from_config(EngineConfig(against, disable=tuple(names)))
                old = make_book(other.knowledge, log)
        page = write_book(book, out)
        if old is not None:
            diff = write_diff(old, book, out)
    except (KneerulesError, BookError) as error:
        raise click.ClickException(str(error)) from None
    rs = book["ruleset"]
    click.echo(f"rule book of {rs['name']} {rs['version']}: {len(book['rules'])} rules, "
               f"{len(book['conditions'])} conditions, {len(book['hazards'])} hazards"
               f"{'' if log else ' (no hazard log found)'}; content hash "
               f"{book['content_hash']}")
    click.echo(f"book: {page}")
    if old is not None:
        click.echo(diff_text(diff), nl=False)
        click.echo(f"diff: {out / 'diff.html'}")


@hookimpl
def kneerules_register_commands(cli: click.Group) -> None:
    cli.add_command(book_command)
