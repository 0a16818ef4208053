"""Bounded HTTP GETs of JSON: key sets, and prefetch the EHR left for the service to fetch.

Each fetch has a timeout and a size cap and never follows a redirect (a 3xx is an error),
so a key set or a record is only ever read from the URL that was allowed.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

log = logging.getLogger("kneerules.service")


class FetchError(Exception):
    """A fetch failed; the message says which URL and why (for the log)."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx becomes an HTTPError


_OPENER = urllib.request.build_opener(_NoRedirect)


def get_json(url: str, timeout: float, max_bytes: int,
             headers: Mapping[str, str] | None = None) -> Any:
    """The JSON at ``url``; raises :class:`FetchError` on any problem."""
    request = urllib.request.Request(url, headers={"Accept": "application/json",
                                                   **(headers or {})})
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            if response.status != 200:
                raise FetchError(f"{url}: HTTP {response.status}")
            body = response.read(max_bytes + 1)
    except urllib.error.HTTPError as error:
        raise FetchError(f"{url}: HTTP {error.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise FetchError(f"{url}: {error}") from None
    if len(body) > max_bytes:
        raise FetchError(f"{url}: larger than {max_bytes} bytes")
    try:
        return json.loads(body)
    except ValueError:
        raise FetchError(f"{url}: not JSON") from None


def fetch_prefetch(fhir_server: str, access_token: str, patient_id: str,
                   templates: Mapping[str, str], keys: Sequence[str], timeout: float,
                   max_bytes: int) -> dict[str, Any]:
    """The missing prefetch ``keys`` read from the EHR's FHIR server with its access token.

    A key whose read fails is ``None`` (those findings stay unknown), as an EHR's own
    prefetch would have said; the reason goes to the log, the token never does.
    """
    base = fhir_server.rstrip("/")
    patient = urllib.parse.quote(patient_id, safe="")
    found: dict[str, Any] = {}
    for key in keys:
        query = templates[key].replace("{{context.patientId}}", patient)
        try:
            value = get_json(f"{base}/{query}", timeout, max_bytes,
                             {"Authorization": f"Bearer {access_token}",
                              "Accept": "application/fhir+json"})
        except FetchError as error:
            log.warning("prefetch %r not read from the FHIR server: %s", key, error)
            value = None
        if not (isinstance(value, dict) and isinstance(value.get("resourceType"), str)):
            value = None
        found[key] = value
    return found
