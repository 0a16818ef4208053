"""The built-in condition plugins: one package per condition, its clinical content in YAML."""
