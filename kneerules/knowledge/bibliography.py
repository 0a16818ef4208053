"""Sources as data: a rule's ``source`` must cite the bibliography or the clinical source.

A source is one or more citations separated by ``"; "``. Each citation starts with the
key or an alias of a bibliography entry (the core's ``bibliography.yaml`` or a plugin's
``references``), optionally followed by detail (``"NICE NG158 1.1.1-1.1.4"``,
``"Coakley et al., Rheumatology 2006: the acute hot swollen joint"``). An entry with
``sections`` (the clinical source) must be cited with one of them
(``"Pain Behind the Knee, 8. DVT: Safety Warning"``). ``kneerules check`` refuses any
other source, so that every claim can be traced to something a reviewer can read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from kneerules.model.rules import Reference

_FOLLOWERS = ("", ",", ":", " ", "(", ";", ".")


def _names(reference: Reference) -> list[str]:
    # Longest first, so that "Stiell et al. 1996" is not read as "Stiell et al." + detail.
    return sorted({reference.key, *reference.aliases}, key=len, reverse=True)


def resolve(citation: str, references: Iterable[Reference]) -> Reference | str:
    """The entry ``citation`` cites, or why it cites none."""
    text = citation.strip()
    lowered = text.lower()
    for reference in references:
        for name in _names(reference):
            if not lowered.startswith(name.lower()):
                continue
            rest = text[len(name):]
            if rest[:1] not in _FOLLOWERS:
                continue
            if reference.sections:
                detail = rest.lstrip(",: ").lower()
                if not any(detail.startswith(s.lower()) for s in reference.sections):
                    return (f'"{citation}" cites {reference.key} without one of its sections '
                            f"({'; '.join(reference.sections)})")
            return reference
    return (f'"{citation}" is neither a bibliography entry (key or alias) nor a section of '
            "the clinical source")


def resolve_all(source: str, references: Mapping[str, Reference]
                ) -> list[Reference | str]:
    """Each citation of ``source`` resolved (or why not). A bare section after a citation
    of the clinical source cites another section of it ("Pain Behind the Knee,
    1. Bakers Cyst; Treating Back of Knee Pain")."""
    out: list[Reference | str] = []
    previous: Reference | None = None
    for citation in source.split("; "):
        resolved = resolve(citation, references.values())
        if (isinstance(resolved, str) and previous is not None and previous.sections
                and any(citation.strip().lower().startswith(s.lower())
                        for s in previous.sections)):
            resolved = previous
        out.append(resolved)
        previous = resolved if isinstance(resolved, Reference) else None
    return out


def source_problems(source: str, references: Mapping[str, Reference]) -> list[str]:
    """Every citation of ``source`` that resolves to no bibliography entry, explained."""
    if not source.strip():
        return ["the source is empty"]
    return [r for r in resolve_all(source, references) if isinstance(r, str)]


def cited(source: str, references: Mapping[str, Reference]) -> list[Reference]:
    """The bibliography entries ``source`` cites, in order, each once."""
    out: dict[str, Reference] = {}
    for resolved in resolve_all(source, references):
        if isinstance(resolved, Reference):
            out.setdefault(resolved.key, resolved)
    return list(out.values())
