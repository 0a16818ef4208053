"""The rule book: the installed rule set as static HTML a clinical team can read and sign
off (``kneerules book --out DIR``), and what changed between two releases (``--diff``).

It reads the loaded knowledge base (rules, conditions, scores, advice, bibliography), the
triage policy and the hazard log; it runs no rule and imports no integration. The CLI
command registers through the ``kneerules.integrations`` entry point, as the integrations
do, so the core never imports this package.
"""
