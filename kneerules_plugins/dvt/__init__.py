"""Deep vein thrombosis: the safety plugin, evaluated before every other rule."""

from kneerules.dataplugin import DataPlugin

plugin = DataPlugin.from_package(__name__, "dvt.yaml")
