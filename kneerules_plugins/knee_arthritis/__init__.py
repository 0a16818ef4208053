"""Condition plugin: knee arthritis."""

from kneerules.dataplugin import DataPlugin

plugin = DataPlugin.from_package(__name__, "knee_arthritis.yaml")
