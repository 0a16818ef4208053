"""Checking resources against the FHIR R4 structure with fhir.resources (the extra).

fhir.resources' R4B models, not its default R5 ones: R5 renamed and dropped R4
elements (silently, for a lenient reader), and R4B keeps R4's resources as they are.
Used for the Questionnaire kneerules generates, and for incoming resources when
``map_fhir(..., strict=True)`` asks for it (slower: see ``bench/fhir_mapping.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kneerules.knowledge.readers import ReaderError
from kneerules.model.errors import Problem
from kneerules.model.messages import install_extra, key_path


def _model(kind: str) -> Any:
    try:
        from fhir.resources.R4B import get_fhir_model_class
    except ImportError:
        raise ReaderError("checking FHIR resources needs the fhir extra: "
                          + install_extra("fhir")) from None

    try:
        return get_fhir_model_class(kind)
    except (KeyError, ValueError):  # not a FHIR R4 type
        return None


def check_resource(resource: Mapping[str, Any], path: str = "$") -> list[Problem]:
    """Every way ``resource`` breaks the FHIR R4 structure, each with its JSON path; a
    :class:`~kneerules.knowledge.readers.ReaderError` naming the extra if fhir.resources is
    missing."""
    kind = resource.get("resourceType")
    model = _model(kind if isinstance(kind, str) else "")  # "" is no type: None
    from pydantic import ValidationError

    if model is None:
        return [Problem(key_path(path, "resourceType"),
                        f"{kind!r} is not a FHIR R4 resource type")]
    try:
        model.model_validate(dict(resource))
    except (TypeError, ValueError, AttributeError) as error:
        if not isinstance(error, ValidationError):  # a validator of the library tripped
            return [Problem(path, f"not valid FHIR R4 ({type(error).__name__}: {error})")]
        problems = []
        for item in error.errors():
            where = path
            for part in item["loc"]:
                if isinstance(part, int | str) and not str(part).startswith(("function-",
                                                                               "list[")):
                    where = key_path(where, part)
            problems.append(Problem(where, str(item["msg"])))
        return problems
    return []
