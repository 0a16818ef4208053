"""The CDS Hooks 2.0 service (``kneerules serve``); needs the ``service`` extra."""
