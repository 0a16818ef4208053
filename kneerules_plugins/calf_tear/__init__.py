"""Condition plugin: calf tear."""

from kneerules.dataplugin import DataPlugin

plugin = DataPlugin.from_package(__name__, "calf_tear.yaml")
