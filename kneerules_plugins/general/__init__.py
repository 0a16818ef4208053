"""The triage policy floor and the advice and cautions that apply to every case."""

from kneerules.dataplugin import DataPlugin

plugin = DataPlugin.from_package(__name__, "general.yaml")
