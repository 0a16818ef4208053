"""The FHIR integration as a kneerules integration plugin (the ``kneerules.integrations``
entry point ``fhir``): its hookspec, its reader, its check of the installed mappings and its
commands. Light on purpose: FHIR code and libraries are imported when used."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import click
import pluggy

from kneerules.hookspecs import hookimpl
from kneerules.model.errors import Problem
from kneerules.model.rules import FactSpec


@hookimpl
def kneerules_addhooks(pluginmanager: pluggy.PluginManager) -> None:
    from kneerules.fhir import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def read_fhir(engine: Any, data: Any, **options: Any) -> Any:
    """A FHIR R4 record (Bundle, resource or list of resources) as a case (see
    :func:`kneerules.fhir.reader.read_fhir`)."""
    from kneerules.fhir.reader import read_fhir as read

    return read(engine, data, **options)


@hookimpl
def kneerules_readers() -> Mapping[str, Callable[..., Any]]:
    return {"fhir": read_fhir}


@hookimpl
def kneerules_checks(facts: Mapping[str, FactSpec], plugin_manager: pluggy.PluginManager
                     ) -> Iterable[tuple[str, Problem]]:
    from kneerules.fhir.mappings import check_installed

    return check_installed(facts, plugin_manager)


@hookimpl
def kneerules_register_commands(cli: click.Group) -> None:
    from kneerules.fhir.commands import fhir_case_command, questionnaire_command

    cli.add_command(questionnaire_command)
    cli.add_command(fhir_case_command)
