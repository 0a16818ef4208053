"""Joint infection: a serious condition of triage policy v2; its rules name it (policy floor)."""

from kneerules.dataplugin import DataPlugin

plugin = DataPlugin.from_package(__name__, "joint_infection.yaml")
