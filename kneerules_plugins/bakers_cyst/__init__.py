"""Condition plugin: bakers cyst."""

from kneerules.dataplugin import DataPlugin

plugin = DataPlugin.from_package(__name__, "bakers_cyst.yaml")
