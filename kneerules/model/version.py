"""The version of kneerules, written once, here: pyproject.toml reads it at build time
(``[tool.setuptools.dynamic]``), and the engine stamps it on every assessment."""

__version__ = "0.1.0"
