"""Condition plugin: ligament sprain."""

from kneerules.dataplugin import DataPlugin

plugin = DataPlugin.from_package(__name__, "ligament_sprain.yaml")
