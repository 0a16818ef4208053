"""The library entry point: ``Engine().evaluate(case)``."""

from __future__ import annotations

import functools
import math
import os
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pluggy

from kneerules.cases.validation import (
    DEFAULT_MAX_BYTES,
    check_fact_size,
    parse_case,
    parse_json,
    plain_fact,
)
from kneerules.knowledge.base import KnowledgeBase, build_knowledge
from kneerules.knowledge.config import DEFAULT_CASE_DEADLINE, EngineConfig
from kneerules.knowledge.plugins import (
    CaseFactsHook,
    call_plugin,
    disabled_names,
    get_plugin_manager,
)
from kneerules.knowledge.rulesets import DEFAULT_RULESET, RulesetSpec, find_ruleset
from kneerules.model.errors import CaseError, NotTriaged, PluginError, Problem, SafetyError
from kneerules.model.records import (
    Assessment,
    Case,
    EngineInfo,
    FactValue,
    Note,
    PluginInfo,
    Question,
    ScoreResult,
)
from kneerules.model.version import __version__
from kneerules.reasoning.assess import build_assessment
from kneerules.reasoning.durable import CHECKS, DurableRunner
from kneerules.reasoning.plan import Plan
from kneerules.reasoning.scores import score_case

# Off the path of `kneerules eval`: the batch machinery (multiprocessing,
# concurrent.futures), the questions and the escalations are imported where used.
if TYPE_CHECKING:
    from kneerules.output.assessment_json import AssessmentWriter
    from kneerules.reasoning.lookahead import Escalation
    from kneerules.reasoning.settle import Settler

_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """A fork taken while another thread evaluated copies the runner's lock held, and its
    session half done: the child would wait on it forever. Such a runner is replaced by a
    new one (a few milliseconds); the parent's is untouched."""
    for engine in list(_engines):
        if engine._runner.busy():
            engine._runner = DurableRunner(engine.knowledge.rules)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def reader_note(problem: Problem) -> str:
    """A reader's problem as a note: its path, unless it is about the whole input."""
    return problem.message if problem.path == "$" else str(problem)


class Engine:
    """Evaluates cases against one rule set. Build once; :meth:`evaluate` is thread-safe.

    ``ruleset`` is a shipped rule set's name or a rule-set file. ``disable``
    names plugins to leave out (the safety plugin refuses). ``plugins`` adds
    plugin objects beyond the installed ones; ``plugin_manager`` replaces
    discovery altogether. ``max_bytes`` caps the size of a case given as JSON text.
    """

    def __init__(
        self,
        ruleset: str | Path | RulesetSpec = DEFAULT_RULESET,
        *,
        disable: Iterable[str] = (),
        plugins: Sequence[object] = (),
        plugin_manager: pluggy.PluginManager | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        disable = disabled_names(disable)
        self.config = EngineConfig(
            ruleset,
            disable=disable, plugins=tuple(plugins), max_bytes=max_bytes,
        )
        self.ruleset = ruleset if isinstance(ruleset, RulesetSpec) else find_ruleset(ruleset)
        self.disabled = tuple(disable)
        self.max_bytes = max_bytes
        # Kept so that a worker process can build the same engine (see kneerules.batch.pool).
        self.extra_plugins = tuple(plugins)
        self.custom_plugin_manager = plugin_manager is not None
        self.plugin_manager = plugin_manager or get_plugin_manager(
            disable=self.disabled, extra=plugins
        )
        self.knowledge: KnowledgeBase = build_knowledge(
            self.plugin_manager, self.ruleset, CHECKS, self.disabled
        )
        safety = self.ruleset.safety
        if not any(rule.plugin == safety for rule in self.knowledge.rules):
            raise SafetyError(safety, "contributed no rules: the safety check cannot run")
        self._runner = DurableRunner(self.knowledge.rules)
        self.plan = Plan(self.knowledge)
        self._json_writer: AssessmentWriter | None = None
        _engines.add(self)
        self.info = EngineInfo(
            version=__version__,
            ruleset=self.ruleset.name,
            ruleset_version=self.ruleset.version,
            plugins=tuple(PluginInfo(p.name, p.version) for p in self.knowledge.plugins),
        )

    @property
    def json_writer(self) -> AssessmentWriter:
        """This engine's writer of assessment JSON lines (``eval --jsonl``), which keeps the
        text of the parts its assessments share for as long as the engine lives."""
        if self._json_writer is None:
            from kneerules.output.assessment_json import AssessmentWriter

            self._json_writer = AssessmentWriter()
        return self._json_writer

    @classmethod
    def from_config(cls, config: EngineConfig) -> Engine:
        """The engine a :class:`EngineConfig` describes (how worker processes build theirs)."""
        return cls(config.ruleset, disable=config.disable, plugins=config.plugins,
                   max_bytes=config.max_bytes)

    @property
    def vocabulary(self) -> Mapping[str, Any]:
        return self.knowledge.facts

    def parse(self, data: Any, source: str | None = None) -> Case:
        """A validated :class:`Case` from decoded JSON, JSON text or bytes, or a
        :class:`Case` built in Python; raises :class:`CaseError` with every problem."""
        if isinstance(data, str | bytes):
            data = parse_json(data, source, self.max_bytes)
        return parse_case(data, self.knowledge.facts, source)

    def evaluate(self, case: Case | Mapping[str, Any]) -> Assessment:
        """The assessment of one case (a :class:`Case` or a dict in the case format).

        Raises :class:`CaseError` for invalid input, :class:`PluginError` (or
        :class:`SafetyError` for the safety plugin) if a plugin fails, and
        never returns a partial assessment."""
        # Even a Case built in Python is checked: attrs does not enforce its types.
        return self._assess(self.parse(case))

    def _assess(self, case: Case) -> Assessment:
        """The assessment of a case :meth:`parse` has validated (the questions try many
        answers this way)."""
        facts, scores = self.case_facts(case)
        check_fact_size(facts, case.case_id)
        firing = self._runner.run(facts, case.case_id)
        return build_assessment(self.knowledge, self.plan, case, facts, scores, firing,
                                self.info)

    @functools.cached_property
    def settler(self) -> Settler:
        """What an interview's answers so far settle (:mod:`kneerules.reasoning.settle`),
        worked out from this engine's rules once, when the first interview needs it."""
        from kneerules.reasoning.settle import Settler

        return Settler(self.knowledge)

    @functools.cached_property
    def answer_thresholds(self) -> dict[str, set[float]]:
        """Every bound a rule or score compares each measurement with: the answers worth
        trying when looking for one that changes the result."""
        from kneerules.reasoning.questions import thresholds

        return thresholds(self.knowledge.rules, self.knowledge.scores)

    def questions(self, case: Case | Mapping[str, Any],
                  skip: Iterable[str] = ()) -> tuple[Question, ...]:
        """The unknown facts whose answer would change the timeframe or the leading
        condition, most consequential first, each answer checked by evaluating the case
        with it (``skip``: facts not to ask). Costs one evaluation per answer tried, so
        :meth:`evaluate` never does it; attach them with
        ``attrs.evolve(assessment, questions=...)`` for the assessment JSON."""
        from kneerules.reasoning.questions import find_questions

        return find_questions(self._assess, self.parse(case), self.knowledge.facts,
                              self.knowledge.rules, self.knowledge.scores, skip)

    def escalations(self, case: Case | Mapping[str, Any],
                    skip: Iterable[str] = ()) -> list[Escalation]:
        """Sets of answers to unknown facts that only together raise the timeframe (a red
        calf and a painful calf), each checked by evaluation; most pressing first."""
        from kneerules.reasoning.lookahead import escalations

        case = self.parse(case)
        facts, _ = self.case_facts(case)
        return escalations(self._assess, case, facts, self.knowledge.facts,
                           self.knowledge.rules, self.knowledge.scores, skip)

    def case_facts(self, case: Case) -> tuple[dict[str, FactValue], list[ScoreResult]]:
        """Every fact the rules see for a validated ``case`` (scores and plugin-computed
        facts included), and the score results; ``--why-not`` explains rules against these."""
        facts: dict[str, FactValue] = case.facts()
        scores = []
        for spec, tally in zip(self.knowledge.scores, self.plan.tallies, strict=True):
            result = score_case(spec, facts, tally)
            scores.append(result)
            facts[spec.fact] = result.score
        for plugin, hook in self.knowledge.case_fact_hooks:
            facts.update(self._case_facts(plugin, hook, case, facts))
        return facts, scores

    def evaluate_many(
        self,
        cases: Iterable[Case | Mapping[str, Any] | str | bytes],
        *,
        jobs: int | None = None,
        chunksize: int = 256,
        deadline: float | None = DEFAULT_CASE_DEADLINE,
    ) -> Iterator[Assessment | CaseError]:
        """Assesses many cases, yielding one result per case in input order.

        A case may be a :class:`Case`, a dict or JSON text. An invalid case yields its
        :class:`CaseError` in its place and the rest go on; an engine or plugin failure
        raises, as :meth:`evaluate` does. ``jobs`` worker processes share the work
        (default: every core; ``1`` evaluates in this process). Input is read lazily and
        at most a few chunks per worker are in flight, so memory stays bounded.

        The results are the same whatever ``jobs``: if ``cases`` raises, every case before
        it is yielded first; a case that cannot be pickled is evaluated in this process.
        ``deadline`` bounds the seconds one case may take (where a SIGALRM timer can run:
        in worker processes, or in the main thread); past it, that case yields a
        :class:`CaseError` saying so and the batch goes on. A worker process that dies
        (``kill -9``, a crash) costs only time: its chunk is run again; a case that kills
        workers twice yields a :class:`CaseError` in its place."""
        from kneerules.batch.pool import evaluate_many

        return evaluate_many(self, cases, jobs=jobs, chunksize=chunksize, deadline=deadline)

    def _case_facts(self, plugin: str, hook: CaseFactsHook, case: Case,
                    facts: Mapping[str, FactValue]) -> Mapping[str, FactValue]:
        safety = plugin == self.ruleset.safety
        error_type = SafetyError if safety else PluginError
        extra = call_plugin(hook, plugin, "kneerules_case_facts", safety=safety, case=case,
                            facts=dict(facts))
        if extra is None:
            return {}
        if not isinstance(extra, Mapping):
            raise error_type(plugin, f"kneerules_case_facts() returned {type(extra).__name__}, "
                             "expected a mapping of fact names to values")
        problems = []
        plain: dict[str, FactValue] = {}
        for name, value in extra.items():
            spec = self.knowledge.facts.get(name)
            if spec is None or spec.plugin != plugin:
                problems.append(f"{name!r} is not a fact this plugin declares")
            elif not isinstance(value, bool | int | float | str):
                problems.append(f"{name!r} has a value of type {type(value).__name__}")
            elif isinstance(value, float) and not math.isfinite(value):
                problems.append(f"{name!r} is not a finite number: {value!r}")
            else:
                # numpy's float64 is a float: as plain values, as a case's are (issue 16.4).
                try:
                    plain[name] = plain_fact(value)
                except ValueError as exc:
                    problems.append(f"{name!r} {exc}")
        if problems:
            raise error_type(plugin, "kneerules_case_facts() returned " + "; ".join(problems))
        return plain

    def read(self, reader: str, data: Any, **options: Any) -> tuple[Case, tuple[Problem, ...]]:
        """A validated case from ``data`` in another format, through the reader installed
        as ``reader`` (see :mod:`kneerules.knowledge.readers`), and what the reader could not decide
        or left out (its ``problems``, then its ``notes``)."""
        case, problems, _ = self._read(reader, data, **options)
        return case, problems

    def _read(self, reader: str, data: Any, **options: Any
              ) -> tuple[Case, tuple[Problem, ...], str | None]:
        from kneerules.knowledge.readers import load_reader

        result = load_reader(reader)(self, data, **options)
        case = self.parse(getattr(result, "case", result))
        notes = tuple(Problem("$", str(note)) for note in getattr(result, "notes", ()))
        return (case, tuple(getattr(result, "problems", ())) + notes,
                getattr(result, "not_triaged", None))

    def evaluate_fhir(self, bundle: Any, *, at: datetime | None = None) -> Assessment:
        """The assessment of a FHIR R4 Bundle (or list of resources) about one patient at
        the index time ``at`` (default now), through ``kneerules[fhir]``. Conflicting
        records are left unknown and listed in the assessment's notes, as are the records
        left out (and why: too old, entered in error...).

        Raises :class:`NotTriaged` when the record holds no current posterior-knee
        complaint (and no red flag was raised): there is nothing to triage, and a triage
        "about this new knee pain" would be wrong."""
        case, problems, not_triaged = self._read("fhir", bundle, at=at)
        assessment = self._assess(case)
        if not_triaged is not None and not assessment.red_flags:
            raise NotTriaged(not_triaged)
        if not problems:
            return assessment
        notes = tuple(Note("input.fhir", f"FHIR: {reader_note(problem)}") for problem in problems)
        return attrs.evolve(assessment, notes=assessment.notes + notes)

    def evaluate_json(self, raw: bytes | str, source: str | None = None) -> Assessment:
        """Parses, validates and evaluates one case given as JSON text."""
        # Validated once: evaluate() would check the parsed Case all over again.
        return self._assess(self.parse(raw, source))


__all__ = ["Engine"]
