"""Condition plugin: hyperextended knee."""

from kneerules.dataplugin import DataPlugin

plugin = DataPlugin.from_package(__name__, "hyperextended_knee.yaml")
