"""Condition plugin: meniscus tear."""

from kneerules.dataplugin import DataPlugin

plugin = DataPlugin.from_package(__name__, "meniscus_tear.yaml")
