"""Cellulitis: infection of the skin and the tissue under it (policy v3, rules 7b and 7c)."""

from kneerules.dataplugin import DataPlugin

plugin = DataPlugin.from_package(__name__, "cellulitis.yaml")
