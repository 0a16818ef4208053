"""Joint infection: a serious condition of policy v2 (policy floor)."""

from kneerules.dataplugin import DataPlugin

plugin = DataPlugin.from_package(__name__, "joint_infection.yaml")
