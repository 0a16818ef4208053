"""kneerules plugin: popliteus tendinopathy. Its clinical content is popliteus_tendinopathy.yaml."""

from kneerules.knowledge.dataplugin import DataPlugin

# Named like the entry point, so that tests registering it directly see the same name.
plugin = DataPlugin.from_package(__name__, "popliteus_tendinopathy.yaml",
                                 name="popliteus_tendinopathy")
