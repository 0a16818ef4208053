"""The hooks of kneerules, documented once, here (as pytest's ``hookspec.py``).

Condition plugins (the built-in YAML files, and the ``kneerules`` entry-point
group) contribute clinical knowledge. Every hook is optional. The contribution
hooks (all but :func:`kneerules_case_facts`) are called once, when an
:class:`~kneerules.Engine` is built; their results are validated together and
compiled into durable-rules rulesets. Each plugin's implementation is called on
its own, so an error names the plugin that raised it.

Integration plugins (the ``kneerules.integrations`` entry-point group: FHIR, the
CDS Hooks service, population audits, and any third party's) add commands,
readers of other formats, checks, and hookspecs of their own
(:func:`kneerules_addhooks`). The core names none of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from kneerules.model.errors import Problem
    from kneerules.model.records import Case, FactValue
    from kneerules.model.rules import (
        AdviceSpec,
        ConditionInfo,
        ConsiderationSpec,
        FactSpec,
        QuestionSpec,
        Reference,
        Rule,
        ScoreSpec,
    )

PROJECT = "kneerules"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def kneerules_conditions() -> Sequence[ConditionInfo]:
    """Return the conditions (diagnoses) this plugin can put in the differential.

    Called once per engine, when it is built. Returns ``Sequence[ConditionInfo]``
    (the ``conditions`` section of a data file): each has an ``id`` unique across
    plugins (``bakers_cyst``), a ``name``, a ``description``, the ``source`` it
    comes from and its ``commonness`` rank, which breaks ties in the differential
    (1 = most common).
    """
    raise NotImplementedError


@hookspec
def kneerules_facts() -> Sequence[FactSpec]:
    """Return the facts this plugin adds to the vocabulary.

    Called once per engine, when it is built. Returns ``Sequence[FactSpec]`` (the
    ``facts`` section). This is how the finding vocabulary grows: a case may use
    any finding or measurement some loaded plugin declares, and a rule of any
    plugin may read it; a rule may only read facts that are declared. Each fact
    has a ``name``, a ``kind`` (``finding``, ``measurement``, ``score`` or
    ``conclusion``), its ``meaning`` and, for numbers, its ``unit`` and range.
    """
    raise NotImplementedError


@hookspec
def kneerules_rules() -> Sequence[Rule]:
    """Return this plugin's rules.

    Called once per engine, when it is built; the engine sorts all rules by
    priority, then id. Returns ``Sequence[Rule]`` (the ``rules`` section): each
    has an ``id`` unique across plugins, a ``priority`` (lower fires first; below
    100 is reserved for the safety plugin), a condition ``when`` over facts, the
    conclusions of other rules it builds on (``after``), what it concludes
    (``then``), a plain-language ``because`` and a ``source``.
    """
    raise NotImplementedError


@hookspec
def kneerules_advice() -> Sequence[AdviceSpec]:
    """Return this plugin's treatment advice.

    Called once per engine, when it is built. Returns ``Sequence[AdviceSpec]``
    (the ``advice`` section): each item applies to a ``condition`` when it leads
    the differential, to a ``triage`` level, to every case (``always``), or when
    a rule names it in ``then.advise``.
    """
    raise NotImplementedError


@hookspec
def kneerules_considerations() -> Sequence[ConsiderationSpec]:
    """Return causes outside the modelled conditions that this plugin's rules can point to.

    Called once per engine, when it is built. Returns
    ``Sequence[ConsiderationSpec]`` (the ``considerations`` section); rules name
    them in ``then.consider`` and they are listed under ``considerations`` in the
    assessment.
    """
    raise NotImplementedError


@hookspec
def kneerules_scores() -> Sequence[ScoreSpec]:
    """Return clinical scores (such as the Wells score) this plugin defines as data.

    Called once per engine, when it is built. Returns ``Sequence[ScoreSpec]``
    (the ``scores`` section). For every case the engine then sums each score's
    items (counted, not counted or unknown), reports the breakdown in the
    assessment's ``scores`` and makes the total available to rules as the fact
    named by the score's ``fact``.
    """
    raise NotImplementedError


@hookspec
def kneerules_references() -> Sequence[Reference]:
    """Return bibliography entries this plugin's rules cite (beyond the core bibliography).

    Called once per engine. Returns a sequence of references. Each
    :class:`~kneerules.model.rules.Reference` has a ``key`` unique across plugins,
    authors, title, journal, year and a DOI or URL; a rule's ``source`` cites
    it by key (or alias). ``kneerules check`` refuses a source that is neither
    a bibliography entry nor a section of the clinical source.
    """
    raise NotImplementedError


@hookspec
def kneerules_questions() -> Sequence[QuestionSpec]:
    """Return when and how an interview (``kneerules ask``) asks for this plugin's facts.

    Called once per engine, when it is built. Returns ``Sequence[QuestionSpec]``
    (the ``questions`` section). Each :class:`~kneerules.ruledata.QuestionSpec`
    names the fact asked (or, with ``items``, a checklist of related findings asked
    as one question), its ``section`` (where, about, red_flags, history,
    examination), its ``audience`` (patient or clinician), an ``order`` within the
    section, lay ``text``, a ``gate`` that must hold before it is asked, and for a
    finding answered in its own words (a test result: raised, normal, not had one) its
    ``answers``.
    ``kneerules check`` refuses a question without a section or audience, one on a
    fact that is not asked (a score, a conclusion) and a fact asked twice.
    """
    raise NotImplementedError


@hookspec
def kneerules_case_facts(case: Case, facts: Mapping[str, FactValue]) -> Mapping[str, FactValue]:
    """Return facts computed from a case, before its rules are evaluated.

    Called **once for every case**, after the scores and before the rules.
    ``case`` is the validated :class:`~kneerules.model.records.Case` and ``facts`` every
    fact known so far by name (findings, measurements, ``patient.age``,
    ``side``, ``onset`` and score totals). Returns ``Mapping[str, FactValue]``:
    facts computed from the case, each declared by this plugin through
    :func:`kneerules_facts`, added to the facts the rules see. Use it for what
    data cannot express, such as a value computed from several measurements. A
    fact the plugin did not declare, a value that is not a bool, number or
    string, or an exception makes the evaluation fail with an error naming the
    plugin: no partial assessment is ever returned.
    """
    raise NotImplementedError


@hookspec
def kneerules_register_commands(cli: click.Group) -> None:
    """Add commands to the ``kneerules`` command line.

    An integration hook. Called on the plugins registered under the
    ``kneerules.integrations`` entry-point group (the integrations shipped with
    kneerules register there too), the first time the ``kneerules`` command
    needs a command it does not define itself (or lists them for ``--help``).
    ``cli`` is the top-level :class:`click.Group`; add commands with
    ``cli.add_command``. Keep the module light: import heavy dependencies
    inside the command's function, so that it works without the extra.
    Returns nothing.
    """


@hookspec
def kneerules_addhooks(pluginmanager: pluggy.PluginManager) -> None:
    """Add an integration's own hookspecs to a plugin manager being built.

    An integration hook, as pytest's ``pytest_addhooks``. Called on every
    integration plugin (the ``kneerules.integrations`` entry-point group) for
    each plugin manager :func:`~kneerules.get_plugin_manager` builds, before any
    condition plugin is registered, so that condition plugins may implement the
    integration's hooks (the FHIR integration adds ``kneerules_fhir_mappings``
    this way). Call ``pluginmanager.add_hookspecs(module)``. Returns nothing.
    """


@hookspec
def kneerules_readers() -> Mapping[str, Callable[..., Any]]:
    """Return the formats this integration turns into a case, by name.

    An integration hook. Called the first time a reader is asked for
    (``Engine.read``, ``kneerules eval --fhir``). Returns a mapping whose values are
    ``reader(engine, data, **options)``, each returning a :class:`~kneerules.Case`, or
    an object with the case as ``.case`` and, optionally, ``.problems`` (what
    the reader could not decide). Import heavy dependencies inside the reader;
    an :class:`ImportError` it raises is reported as the extra to install.
    """
    raise NotImplementedError


@hookspec
def kneerules_checks(facts: Mapping[str, FactSpec], plugin_manager: pluggy.PluginManager
                     ) -> Iterable[tuple[str, Problem]]:
    """Return problems in the installed data that this integration can see.

    An integration hook. Called by ``kneerules check`` with the whole
    vocabulary (``facts``, by name) and the plugin manager of the installed
    plugins. Returns (source, problem) pairs: the file or plugin at fault, and
    a :class:`~kneerules.Problem` with its path and message.
    """
    raise NotImplementedError
