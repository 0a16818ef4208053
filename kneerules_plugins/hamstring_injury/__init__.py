"""Condition plugin: hamstring injury."""

from kneerules.dataplugin import DataPlugin

plugin = DataPlugin.from_package(__name__, "hamstring_injury.yaml")
