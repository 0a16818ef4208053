"""A plugin module whose hooks are plain functions: kneerules finds it by its entry point."""

from kneerules import hookimpl
from kneerules.model.rules import Conclusions, ConditionInfo, FactSpec, FactTest, Rule


@hookimpl
def kneerules_facts():
    return [FactSpec("demo.marker", "finding", "a finding only this plugin knows")]


@hookimpl
def kneerules_conditions():
    return [ConditionInfo("demo_condition", "Demo condition", "For tests only.", "tests", 50)]


@hookimpl
def kneerules_rules():
    return [
        Rule(
            id="demo.marker_present",
            priority=5000,
            because="The demo marker was recorded.",
            source="kneerules test suite",
            when=FactTest("demo.marker"),
            then=Conclusions(evidence=(("demo_condition", 9.0),)),
        )
    ]
