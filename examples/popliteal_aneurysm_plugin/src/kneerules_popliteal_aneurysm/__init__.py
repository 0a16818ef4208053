"""kneerules plugin: popliteal artery aneurysm. Its clinical content is popliteal_aneurysm.yaml."""

from kneerules.dataplugin import DataPlugin

# Named like the entry point, so that tests registering it directly see the same name.
plugin = DataPlugin.from_package(__name__, "popliteal_aneurysm.yaml", name="popliteal_aneurysm")
