"""The ``kneerules`` command. The only module that turns errors into exit codes:
1 for a domain error (bad case, failing plugin), 2 for a usage error."""

from __future__ import annotations

import pathlib
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click
import pluggy

from kneerules.cli.params import DISABLE_HELP as _DISABLE_HELP
from kneerules.cli.params import build_engine, engine_options
from kneerules.cli.params import disabled as _disabled
from kneerules.cli.params import fail as _fail
from kneerules.model.version import __version__

if TYPE_CHECKING:
    from kneerules.engine import Engine

MAX_BYTES_LIMIT = 1024 * 1024 * 1024
"""The largest --max-bytes: a case is read into memory whole (a case fact beyond 8 MiB is
refused anyway); 2**63 - 1 overflowed the read."""


NOT_TRIAGED_EXIT = 3
"""``eval --fhir`` of a record with no current posterior-knee complaint: nothing was
triaged, on purpose (neither a bad input, 1, nor a usage error, 2)."""


def _say(text: str, err: bool = False, nl: bool = True) -> None:
    """Prints one line of text made of values (a file name, a problem): never a control
    character, not even a newline, reaches the stream (issue 16.3)."""
    from kneerules.model.textsafe import one_line

    click.echo(one_line(text), err=err, nl=nl)


def terminal_width() -> int:
    """The width text wraps to: the terminal's (or ``COLUMNS``), 88 when not a terminal."""
    import shutil

    return max(40, shutil.get_terminal_size((88, 24)).columns)


def _read_input(path: str, max_bytes: int) -> tuple[str, bytes]:
    # One byte past the limit is enough to refuse a file without reading all of it.
    if path == "-":
        try:
            return "<stdin>", _stdin().read(max_bytes + 1)
        except OSError as error:
            raise click.BadParameter(f"cannot read standard input: {error.strerror}",
                                     param_hint="CASE") from None
    try:
        with open(path, "rb") as handle:
            return path, handle.read(max_bytes + 1)
    except OSError as error:
        raise click.BadParameter(f"cannot read {path!r}: {error.strerror}",
                                 param_hint="CASE") from None


def _stdin() -> Any:
    if sys.stdin is None:  # the process was started with standard input closed
        raise click.UsageError("standard input is closed: give a file instead of -")
    return sys.stdin.buffer


class _Main(click.Group):
    """The command group, making sure output was really written (issue 16.9): started
    with standard output closed, or writing to a full disk, is an error, not exit 0.

    The integrations' and plugins' commands (``kneerules_register_commands``) are added
    on first need, click's lazy-group pattern: a command the core does not define, or the
    list of commands for ``--help``. So ``kneerules eval`` never scans entry points."""

    _plugins_loaded = False

    def _load_plugin_commands(self) -> None:
        if not self._plugins_loaded:
            self._plugins_loaded = True
            register_commands(self)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            self._load_plugin_commands()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        return super().list_commands(ctx)

    def invoke(self, ctx: click.Context) -> Any:
        if sys.stdout is None and ctx.protected_args:
            raise click.ClickException("standard output is closed: nothing could be written")
        try:
            return super().invoke(ctx)
        except OSError as error:
            _abandon_stdout(error)
            raise click.ClickException(f"cannot write the output: {error.strerror}") from None
        finally:
            try:
                if sys.stdout is not None:
                    sys.stdout.flush()
            except OSError as error:
                _abandon_stdout(error)
                raise click.ClickException(f"cannot write the output: {error.strerror}"
                                           ) from None


def _abandon_stdout(error: OSError) -> None:
    """Points standard output at /dev/null, so the interpreter's own flush at exit does not
    fail again with a traceback; a closed pipe (EPIPE) is left to click, which exits quietly."""
    import errno
    import os

    if error.errno == errno.EPIPE:
        raise error
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, AttributeError, ValueError):
        pass  # not a real file (a test runner's buffer): nothing will flush it at exit


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kneerules")
def main() -> None:
    """Triage pain behind the knee from a patient's findings."""


@main.command("eval")
@click.argument("cases", nargs=-1, metavar="CASE...",
                type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--format", "output_format", type=click.Choice(["text", "json"]),
              default="text", show_default=True, help="Output for a person or for a program.")
@click.option("--audience", type=click.Choice(["any", "patient", "clinician"]), default="any",
              show_default=True, help="Who reads the text: a patient (what to do and how "
              "soon, plainly), a clinician (the rules, evidence and what to examine next), or "
              "any (everything, as before).")
@click.option("--questions", "with_questions", is_flag=True,
              help="Also find the unknown findings whose answer would change the timeframe "
                   "or the leading condition (one evaluation per answer tried).")
@click.option("--explain", is_flag=True, help="Also show every rule that fired, and why.")
@click.option("--why-not", "why_not", multiple=True, metavar="RULE_ID",
              help="Say whether a rule fired and, if not, the first condition that failed or "
                   "the conclusion it waited on (repeatable; a plugin name stands for all its "
                   "rules); implies --explain.")
@engine_options
@click.option("--max-bytes", "max_bytes", type=click.IntRange(min=1, max=MAX_BYTES_LIMIT),
              default=None,
              metavar="N", help="Refuse a case larger than N bytes (a --fhir record: 16 N, "
              "as fhir-case).  [default: 1048576 (1 MiB)]")
@click.option("--jsonl", metavar="FILE|-", help="Read cases as JSON Lines (one case per line; "
              "- for standard input) and write one JSON assessment per line, in order; a bad "
              "line gives an error record {\"line\": N, \"error\": {\"problems\": [...]}}.")
@click.option("--jobs", type=click.IntRange(min=0), default=0, show_default=True,
              help="Processes for --jsonl; 0 means every core, 1 no extra process. Workers "
              "take 256 lines at a time: for a live feed answered line by line, use 1.")
@click.option("--fhir", is_flag=True, help="Each CASE is a FHIR R4 Bundle (or resource, or "
              "list of resources) about one patient, mapped by kneerules.fhir (docs/fhir.md).")
@click.option("--at", "at", metavar="DATETIME", help="With --fhir: the index time, ISO 8601 "
              "with its zone (2024-09-01T10:00:00Z).  [default: now]")
@click.pass_context
def eval_command(ctx: click.Context, cases: tuple[str, ...], output_format: str,
                 audience: str, with_questions: bool, explain: bool,
                 why_not: tuple[str, ...], ruleset: str, disable: tuple[str, ...],
                 max_bytes: int | None, jsonl: str | None, jobs: int, fhir: bool,
                 at: str | None) -> None:
    """Assess each CASE (a case.json file, or - for standard input).

    With one case and --format json, prints the assessment object; with
    several, one assessment per line (JSON Lines). A bad case is reported on
    standard error and the others are still assessed; the exit code is 1 if
    any case failed. With --jsonl FILE instead of CASE..., assesses a whole
    batch on --jobs processes. With --fhir, a record that holds no current
    posterior-knee complaint is not triaged: it says so, and the exit code is 3.
    """

    from datetime import UTC, datetime

    import attrs

    from kneerules.cli.params import parse_index_time
    from kneerules.knowledge.readers import record_limit
    from kneerules.model.errors import CaseError, KneerulesError, NotTriaged
    from kneerules.output.rendering import RenderOptions, render

    when = (parse_index_time(at) or datetime.now(UTC)) if fhir else None
    if at is not None and not fhir:
        raise click.UsageError("--at is the index time of a FHIR record: use it with --fhir")
    if jsonl is not None:
        from click.core import ParameterSource

        text = ctx.get_parameter_source("output_format") != ParameterSource.DEFAULT
        if (cases or explain or why_not or fhir or with_questions or audience != "any"
                or (text and output_format == "text")):
            raise click.UsageError("--jsonl writes JSON Lines: it takes no CASE, --explain, "
                                   "--why-not, --fhir, --questions, --audience or --format "
                                   "text")
        _eval_jsonl(build_engine(ruleset, disable, max_bytes), jsonl, jobs)
        return
    if not cases:
        raise click.UsageError("Missing argument 'CASE...' (or give --jsonl FILE).")
    if why_not and output_format == "json":
        raise click.BadParameter("explains for a person: use it with --format text",
                                 param_hint="--why-not")
    engine = build_engine(ruleset, disable, max_bytes)
    why_rules = _why_not_rules(engine, why_not)
    width = terminal_width()
    failed = not_triaged = False
    # A FHIR record is a whole patient's resources: one limit for it, shared with fhir-case.
    limit = record_limit(engine.max_bytes) if fhir else engine.max_bytes
    for path in cases:
        source, raw = _read_input(path, limit)
        try:
            if fhir:
                from kneerules.cases.validation import parse_json

                record = parse_json(raw, source, limit)
                assessment = engine.evaluate_fhir(record, at=when)
                for note in assessment.notes:
                    if note.id == "input.fhir":
                        _say(f"{source}: warning: {note.message.removeprefix('FHIR: ')}",
                             err=True)
                if with_questions or why_rules:
                    case = engine.read("fhir", record, at=when)[0]
            else:
                case = engine.parse(raw, source)
                assessment = engine.evaluate(case)
            if with_questions:
                assessment = attrs.evolve(assessment, questions=engine.questions(case))
        except NotTriaged as error:
            # Not a failure: nothing to triage. Its own exit status (3, docs/fhir.md).
            not_triaged = True
            _say(f"{source}: {error.reason}", err=True)
            if output_format == "json" and len(cases) > 1:
                _write_json_line({"source": source, "not_triaged": error.reason})
            continue
        except CaseError as error:
            failed = True
            for problem in error.problems:
                _say(f"{source}: {problem}", err=True)
            if output_format == "json" and len(cases) > 1:
                # Line N of the output stands for file N, a bad one too (issue 16.9).
                _write_json_line(_file_error_record(source, error))
            continue
        except KneerulesError as error:
            _fail(error)
        options = RenderOptions(explain=explain or bool(why_not),
                                indent=2 if len(cases) == 1 else None, width=width)
        if output_format == "text" and len(cases) > 1:
            _say(f"== {source}")
        click.echo(render(assessment, output_format, audience, options), nl=False)
        if output_format == "text" and why_rules:
            from kneerules.model.textsafe import terminal_safe

            click.echo(terminal_safe(_why_not_text(engine, case, assessment, why_rules)),
                       nl=False)
    if failed:
        sys.exit(1)
    if not_triaged:
        sys.exit(NOT_TRIAGED_EXIT)


def _file_error_record(source: str, error: Any) -> dict[str, Any]:
    return {"source": source, "error": {"problems": [
        {"path": p.path, "message": p.message} for p in error.problems]}}


def _write_json_line(record: dict[str, Any]) -> None:
    import json

    from kneerules.model.textsafe import json_safe

    click.echo(json_safe(json.dumps(record, ensure_ascii=False)))


def _eval_jsonl(engine: Engine, path: str, jobs: int) -> None:
    import errno

    from kneerules.batch.jsonl import Progress, count_lines, read_lines, write_lines
    from kneerules.model.errors import KneerulesError

    live = path == "-"
    try:
        handle = _stdin() if live else open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as error:
        raise click.BadParameter(f"cannot read {path!r}: {error.strerror}",
                                 param_hint="--jsonl") from None
    progress = None
    if sys.stderr is not None and sys.stderr.isatty():
        # A FIFO or /dev/stdin cannot be counted in advance (and seeking it fails).
        seekable = not live and _seekable(handle)
        progress = Progress(sys.stderr, count_lines(handle) if seekable else None)
    failed = False
    out = sys.stdout
    # The lines come encoded (and checked) from the workers: written as they are.
    binary = getattr(out, "buffer", None) or _TextAsBytes(out)
    out.flush()
    try:
        # A live feed wants each answer as soon as it is ready.
        for ok in write_lines(engine, read_lines(handle, engine.max_bytes), binary, jobs=jobs,
                              live=live):
            failed = failed or not ok
            if progress:
                progress.step()
    except KneerulesError as error:
        binary.flush()
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
    binary.flush()
    if failed:
        sys.exit(1)


class _TextAsBytes:
    """A text stream with no binary buffer (a test's capture) taking encoded lines."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, data: bytes) -> int:
        return int(self.stream.write(data.decode("utf-8")))

    def flush(self) -> None:
        self.stream.flush()


def _seekable(handle: Any) -> bool:
    try:
        return bool(handle.seekable()) and handle.tell() == 0
    except OSError:
        return False


def _why_not_rules(engine: Engine, names: Sequence[str]) -> list[str]:
    from kneerules.cli.whynot import resolve_names

    try:
        return resolve_names(engine.knowledge, names)
    except LookupError as error:
        raise click.BadParameter(str(error.args[0]), param_hint="--why-not") from None


def _why_not_text(engine: Engine, case: Any, assessment: Any, rule_ids: Sequence[str]) -> str:
    from kneerules.cli.whynot import explain_rules, render_explanations

    return render_explanations(explain_rules(engine, case, assessment, rule_ids))


@main.command("plugins")
@click.option("--disable", multiple=True, metavar="PLUGIN", help=_DISABLE_HELP)
@click.option("--ruleset", default="posterior-knee", show_default=True)
def plugins_command(disable: tuple[str, ...], ruleset: str) -> None:
    """List every loaded plugin with its version and the hooks it implements."""
    from kneerules.knowledge.base import essential_plugins

    engine = build_engine(ruleset, disable)
    safety = engine.ruleset.safety
    essential = essential_plugins(engine.ruleset)
    for plugin in engine.knowledge.plugins:
        role = " (safety)" if plugin.name == safety else (
            " (essential)" if plugin.name in essential else "")
        _say(f"{plugin.name} {plugin.version}{role}  [{plugin.origin}]")
        _say(f"  hooks: {', '.join(plugin.hooks)}")


@main.command("check")
@click.argument("paths", nargs=-1, metavar="[PATH]...",
                type=click.Path(exists=True, path_type=pathlib.Path))
@click.option("--ruleset", default="posterior-knee", show_default=True,
              help="The rule set whose plugins the PATHs are checked together with.")
@click.option("--disable", multiple=True, metavar="PLUGIN", help=_DISABLE_HELP)
def check_command(paths: tuple[pathlib.Path, ...], ruleset: str,
                  disable: tuple[str, ...]) -> None:
    """Check rule data for mistakes, without evaluating a case.

    With no PATH, checks the installed rule set. Each PATH is a plugin data file
    (YAML) or a folder searched for them (a plugin project); they are checked
    together with the installed plugins, a file taking the place of the
    installed plugin of its name. Prints one line per problem (file, rule or
    entry, what is wrong) and exits 1 if there is any.
    """
    from kneerules.cli.lint import lint
    from kneerules.model.errors import KneerulesError

    try:
        report = lint(paths, ruleset=ruleset, disable=_disabled(disable))
    except KneerulesError as error:
        _fail(error)
    for problem in report.problems:
        _say(str(problem))
    count = len(report.problems)
    found = f"{count} problem{'s' if count != 1 else ''}"
    if paths:
        summary = (f"{found} in {', '.join(report.files) or 'no plugin data file'} (checked "
                   f"with {len(report.plugins)} plugins, {report.rules} rules)")
    else:
        summary = (f"{found} in {report.rules} rules of {len(report.plugins)} plugins "
                   f"({', '.join(report.plugins)})")
    _say(summary, err=bool(count))
    if count:
        sys.exit(1)


@main.command("new-plugin")
@click.argument("name")
@click.option("--directory", type=click.Path(file_okay=False, path_type=pathlib.Path),
              default=".", show_default=True, help="Where to create the plugin's folder.")
@click.option("--title", help="The condition's name for people (default: from NAME).")
def new_plugin_command(name: str, directory: pathlib.Path, title: str | None) -> None:
    """Create a plugin project NAME (e.g. popliteal_aneurysm) ready to install and test.

    It has its own pyproject.toml declaring the kneerules entry point, the plugin
    module, its rule data file, an example case and a passing test.
    """
    from kneerules.cli.scaffold import ScaffoldError, name_problem, new_plugin

    problem = name_problem(name)
    if problem:
        raise click.BadParameter(problem, param_hint="NAME")
    try:
        target, written = new_plugin(name, directory, title)
    except ScaffoldError as error:
        _fail(error)
    click.echo(f"Created plugin {name!r} in {target}:")
    for path in written:
        click.echo(f"  {path.relative_to(target)}")
    click.echo(f"Next:\n  cd {target}\n  pip install -e '.[test]'\n  pytest\n"
               f"  kneerules check .\n  kneerules eval examples/{name}-case.json --why-not {name}")


@main.command("ask")
@click.argument("case_file", required=False, metavar="[CASE]",
                type=click.Path(exists=True, dir_okay=False, allow_dash=False))
@click.option("--save", type=click.Path(dir_okay=False, writable=True, path_type=pathlib.Path),
              help="Write the case built (case JSON) to this file, after every answer "
              "(atomically: a new file renamed into place). An existing file is refused "
              "unless --force is given.")
@click.option("--force", is_flag=True, help="With --save: replace the file if it exists.")
@click.option("--clinician", is_flag=True, help="Also ask what only a clinician can answer "
              "(foot pulses, passive stretch, the Ottawa knee rule, the measured calf, "
              "another diagnosis as likely as a DVT).")
@click.option("--replay", "replay_file", metavar="CASE",
              type=click.Path(exists=True, dir_okay=False, allow_dash=True),
              help="Answer every question from this case file, or a vignette's case (a fact "
              "it does not record is \"don't know\"), and print one JSON object: the questions "
              "asked with their answers, and the assessment.")
@engine_options
def ask_command(case_file: str | None, save: pathlib.Path | None, force: bool,
                clinician: bool, replay_file: str | None, ruleset: str,
                disable: tuple[str, ...]) -> None:
    """Interview: ask, as a clinician would, until the answer is settled.

    First where it hurts and which leg, then age and sex, then the red flags that fit
    what is known, then the history that tells the likely causes apart (yes / no /
    don't know; a number for a measurement; a checklist item by item). It stops once
    no way of answering the rest could change how soon to be seen or which serious
    conditions must not be missed, then says what to do and why. Starts from nothing
    or from a partial CASE file. Ctrl-C stops at once, keeping the answers so far in
    the --save file.
    """
    from kneerules.cli.interview import DONT_KNOW, Interview, ItemAsking, save_case
    from kneerules.model.errors import CaseError, KneerulesError

    if save is not None and not force and (save.exists() or save.is_symlink()):
        # The first answer would replace it: someone's file, or another interview.
        raise click.BadParameter(f"{str(save)!r} exists: give --force to replace it, or "
                                 "another file", param_hint="--save")
    if force and save is None:
        raise click.UsageError("--force replaces the --save file: use it with --save")
    engine = build_engine(ruleset, disable)
    if replay_file is not None:
        if case_file is not None or save is not None:
            raise click.UsageError("--replay answers from its own case file: it takes no "
                                   "CASE and no --save")
        _ask_replay(engine, replay_file, clinician)
        return
    case = engine.parse({})
    if case_file is not None:
        source, raw = _read_input(case_file, engine.max_bytes)
        try:
            case = engine.parse(raw, source)
        except CaseError as error:
            for problem in error.problems:
                click.echo(f"{source}: {problem}", err=True)
            sys.exit(1)
    interview = Interview(engine, clinician=clinician, case=case)

    def saved() -> None:
        if save is not None:
            save_case(interview.case, save)

    click.echo("Answer each question: y for yes, n for no, d if you don't know. "
               "Ctrl-C stops, keeping your answers.")
    try:
        number = 0
        while (question := interview.next_question()) is not None:
            number += 1
            if question.kind == "checklist":
                click.echo(f"{number}. {question.text}")
                answers: dict[str, object] = {}
                for item in question.items:
                    answers[item.fact] = _ask_one(f"   - {item.label}", ItemAsking(item.answers),
                                                  engine.vocabulary[item.fact])
                interview.answer(question.id, answers)
            else:
                value = _ask_one(f"{number}. {question.text}", question,
                                 engine.vocabulary[question.id])
                interview.answer(question.id, DONT_KNOW if value is DONT_KNOW else value)
            saved()
    except click.Abort:  # Ctrl-C, or the end of the input
        saved()
        answered = len(interview.case.facts()) - len(case.facts())
        where = f"; they are saved in {save}" if save is not None else ""
        click.echo(f"\nStopped. {answered} answer{'s' if answered != 1 else ''} so far{where}.",
                   err=True)
        sys.exit(130)
    except KneerulesError as error:  # an engine failure: the answers so far are kept
        saved()
        _fail(error)
    saved()
    _say_verdict(interview)
    if save is not None:
        click.echo(f"\nYour answers are saved in {save}.")


def _ask_one(prompt: str, question: Any, spec: Any) -> object:
    """Prompts until the answer typed is one (yes / no / don't know, a choice, a number)."""
    from kneerules.cli.interview import parse_answer, prompt_hint

    hint = prompt_hint(question, spec)
    while True:
        text = click.prompt(f"{prompt} ({hint})", default="", show_default=False,
                            prompt_suffix=" > ")
        answer = parse_answer(text, question, spec)
        if answer is not None:
            return answer
        click.echo(f"   Please answer: {hint}.")


def _say_verdict(interview: Any) -> None:
    from kneerules.cli.interview import why
    from kneerules.model.textsafe import terminal_safe
    from kneerules.output.rendering import RenderOptions, render

    assessment = interview.assessment()
    click.echo("")
    click.echo(render(assessment, "text", "patient", RenderOptions(width=terminal_width())),
               nl=False)
    import textwrap

    def say(title: str, lines: list[str]) -> None:
        if lines:
            click.echo(f"\n{title}")
        for line in lines:
            click.echo(terminal_safe(textwrap.fill(line, terminal_width(), initial_indent="- ",
                                                   subsequent_indent="  ")))

    say("Why this answer:", why(interview, assessment))
    say("An examination could still change how soon you need to be seen; tell the "
        "clinician who sees you. They would check:",
        [interview.engine.vocabulary[q.id].meaning for q in interview.still_to_examine()
         if q.kind != "checklist"])


def _ask_replay(engine: Engine, path: str, clinician: bool) -> None:
    import json

    from kneerules.cases.validation import parse_json
    from kneerules.cli.interview import replay
    from kneerules.model.converter import to_dict
    from kneerules.model.errors import CaseError, KneerulesError
    from kneerules.model.textsafe import json_safe

    source, raw = _read_input(path, engine.max_bytes)
    try:
        data = parse_json(raw, source, engine.max_bytes)
        if isinstance(data, dict) and {"case", "expect"} <= data.keys():
            # A vignette (the format `validate` scores) is replayed from its case.
            data, source = data["case"], f"{source} (its \"case\")"
        case = engine.parse(data, source)
        interview = replay(engine, case, clinician=clinician)
        result = {"questions": interview.transcript(),
                  "assessment": to_dict(interview.assessment())}
    except CaseError as error:
        for problem in error.problems:
            _say(f"{source}: {problem}", err=True)
        sys.exit(1)
    except KneerulesError as error:
        _fail(error)
    click.echo(json_safe(json.dumps(result, indent=2, ensure_ascii=False)))


@main.command("validate")
@click.argument("folders", nargs=-1, required=True, metavar="FOLDER...",
                type=click.Path(exists=True, file_okay=False))
@click.option("--format", "output_format", type=click.Choice(["text", "json"]),
              default="text", show_default=True, help="Report for a person or for a program.")
@click.option("--robustness", is_flag=True, help="Also drop each recorded finding of every "
              "vignette in turn, and flip it, and report how often the leading condition "
              "changes and which findings it hinges on.")
@engine_options
def validate_command(folders: tuple[str, ...], output_format: str, robustness: bool,
                     ruleset: str, disable: tuple[str, ...]) -> None:
    """Score the vignettes in each FOLDER (JSON files with "case" and "expect").

    Prints each case's misses, top-1 and top-3 accuracy, triage exact, under- and
    over-triage, emergency sensitivity, timeframe, must-not-miss and a confusion table
    of the expected against the ranked-first condition. Exits 1 when any case is
    under-triaged or a vignette cannot be read, so that a release can be gated on it.
    """
    import json

    from kneerules.cli import vignettes
    from kneerules.model.errors import KneerulesError

    engine = build_engine(ruleset, disable)
    try:
        report = vignettes.validate(engine, folders)
        if robustness:
            report["robustness"] = vignettes.robustness(engine, folders)
    except KneerulesError as error:
        _fail(error)
    from kneerules.model.textsafe import json_safe, terminal_safe

    # Vignette files are input like any other: what they hold is shown, never obeyed.
    if output_format == "json":
        click.echo(json_safe(json.dumps(report, indent=2, ensure_ascii=False)))
    else:
        click.echo(terminal_safe(vignettes.render_report(report)), nl=False)
    if vignettes.under_triaged(report) or report["summary"]["errors"]:
        sys.exit(1)


@main.command("rulesets")
def rulesets_command() -> None:
    """List the shipped rule sets."""
    from kneerules.knowledge.rulesets import available_rulesets, load_ruleset

    for name, resource in available_rulesets().items():
        spec = load_ruleset(resource)
        _say(f"{name} {spec.version}: {', '.join(spec.plugins)}")


@main.command("schema")
@click.argument("which", type=click.Choice(["case", "assessment"]))
@click.option("--ruleset", default="posterior-knee", show_default=True,
              help="The rule set whose plugins' vocabulary the schema names.")
@click.option("--disable", multiple=True, metavar="PLUGIN", help=_DISABLE_HELP)
def schema_command(which: str, ruleset: str, disable: tuple[str, ...]) -> None:
    """Print the JSON Schema (draft 2020-12) of a case or an assessment, for the installed
    vocabulary: validate input in any language before calling kneerules."""
    import json

    from kneerules.cases.schema import SCHEMAS

    engine = build_engine(ruleset, disable)
    click.echo(json.dumps(SCHEMAS[which](engine.vocabulary), indent=2, ensure_ascii=False))


def register_commands(cli: click.Group, pm: pluggy.PluginManager | None = None) -> None:
    """Let the installed integrations (or the plugins of ``pm``) add their commands to
    ``cli``; an integration that failed to load is named on standard error, and the rest of
    the command line still works."""
    if pm is None:
        from kneerules.knowledge.plugins import integrations

        loaded = integrations()
        for reason in loaded.broken:
            click.echo(f"kneerules: warning: an integration failed to load: {reason}", err=True)
        pm = loaded.manager
    pm.hook.kneerules_register_commands(cli=cli)


def run() -> None:
    """The ``kneerules`` program (its console script): :func:`main`, in a process that ends
    when it returns."""
    import atexit
    import gc

    # At exit the interpreter runs the cyclic garbage collector over every object still
    # alive (the modules, the engine: some 30,000 objects, ~6 ms a pass) several times:
    # ~25 ms of a 0.2 s `kneerules eval`. Frozen, they are left to the operating system,
    # which takes the memory back anyway. (Not in main: tests call it in their process.)
    atexit.register(gc.freeze)
    main()


if __name__ == "__main__":  # pragma: no cover
    run()
