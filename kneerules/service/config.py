"""The service's configuration file (YAML), read into frozen attrs classes with clear errors.

Every mistake is reported with its path in the file (``security.issuers[0].jku``) and what
was expected; unknown keys are refused with the closest valid name, because a misspelt
security setting silently falling back to a default is how a service ends up open.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs

from kneerules.model.errors import KneerulesError, Problem

ALLOWED_ALGORITHMS = ("ES256", "ES384", "ES512", "RS256", "RS384", "RS512",
                      "PS256", "PS384", "PS512")
"""Asymmetric algorithms only: ``none`` and HS* can never be configured."""


class ServiceConfigError(KneerulesError):
    """The service configuration file is unreadable or invalid; lists every problem."""

    def __init__(self, problems: Sequence[Problem], source: str) -> None:
        self.problems = tuple(problems)
        self.source = source
        listed = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"invalid service configuration {source}:\n{listed}")


@attrs.frozen
class Issuer:
    """An EHR allowed to call: its ``iss``, where its keys may come from, its tenants."""

    iss: str
    jku: tuple[str, ...] = ()
    jwks_url: str | None = None
    tenants: tuple[str, ...] = ()
    fhir_servers: tuple[str, ...] = ()
    """FHIR servers the service may read missing prefetch from, with the EHR's token."""


@attrs.frozen
class Security:
    algorithms: tuple[str, ...] = ("ES384", "RS384")
    issuers: tuple[Issuer, ...] = ()
    leeway_seconds: int = 30
    max_lifetime_seconds: int = 300
    jwks_timeout_seconds: float = 2.0
    jwks_max_bytes: int = 65536
    jwks_cache_seconds: int = 3600
    jwks_refetch_seconds: int = 60
    fhir_timeout_seconds: float = 5.0
    fhir_max_bytes: int = 4 * 1024 * 1024

    def issuer(self, iss: str) -> Issuer | None:
        return next((i for i in self.issuers if i.iss == iss), None)


@attrs.frozen
class EngineSettings:
    ruleset: str = "posterior-knee"
    disable: tuple[str, ...] = ()


@attrs.frozen
class ServiceConfig:
    """``public_url`` is the base URL EHRs call: a token's ``aud`` must be it plus the path."""

    public_url: str
    security: Security
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    store: str = "kneerules-service.sqlite"
    service_id: str = "kneerules-knee-triage"
    cors_origins: tuple[str, ...] = ()
    engine: EngineSettings = EngineSettings()
    source: str = "<config>"

    def audience(self, path: str) -> str:
        return self.public_url + path


_TOP = {"public_url", "host", "port", "workers", "store", "service_id", "cors_origins",
        "engine", "security"}
_SECURITY = {"algorithms", "issuers", "leeway_seconds", "max_lifetime_seconds",
             "jwks_timeout_seconds", "jwks_max_bytes", "jwks_cache_seconds",
             "jwks_refetch_seconds", "fhir_timeout_seconds", "fhir_max_bytes"}
_ISSUER = {"iss", "jku", "jwks_url", "tenants", "fhir_servers"}
_ENGINE = {"ruleset", "disable"}


class _Reader:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def mapping(self, value: Any, path: str, keys: set[str]) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(path, f"expected a mapping, got {type(value).__name__}")
            return {}
        for key in value:
            if key not in keys:
                close = difflib.get_close_matches(str(key), sorted(keys), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                self.fail(f"{path}.{key}", f"unknown setting{hint}")
        return value

    def string(self, data: Mapping[str, Any], key: str, path: str, default: str | None = None,
               ) -> str | None:
        value = data.get(key, default)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            self.fail(f"{path}.{key}", f"expected a non-empty string, got {value!r}")
            return default
        return value

    def number(self, data: Mapping[str, Any], key: str, path: str, default: float,
               integer: bool = True, minimum: float = 1) -> Any:
        value: Any = data.get(key, default)
        number = isinstance(value, int) or (not integer and isinstance(value, float))
        if isinstance(value, bool) or not number or value < minimum:
            kind = "an integer" if integer else "a number"
            self.fail(f"{path}.{key}", f"expected {kind} >= {minimum:g}, got {value!r}")
            return default
        return value

    def strings(self, data: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
        value = data.get(key, [])
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.fail(f"{path}.{key}", f"expected a list of non-empty strings, got {value!r}")
            return ()
        return tuple(value)

    def url(self, value: str | None, path: str, *, base: bool = False) -> None:
        if value is None:
            return
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            self.fail(path, f"expected an http(s) URL, got {value!r}")
        elif base and (parts.query or parts.fragment or value.endswith("/")):
            self.fail(path, f"expected a base URL without a trailing '/', query or fragment, "
                            f"got {value!r}")


def parse_config(data: Any, source: str = "<config>", base: Path | None = None) -> ServiceConfig:
    """A :class:`ServiceConfig` from decoded YAML; raises :class:`ServiceConfigError`."""
    r = _Reader()
    top = r.mapping(data, "$", _TOP)
    if data is not None and not isinstance(data, dict):
        raise ServiceConfigError(r.problems, source)
    public_url = r.string(top, "public_url", "$")
    if public_url is None:
        r.fail("$.public_url", "required: the base URL EHRs call (tokens' aud is checked "
                               "against it), e.g. https://cds.example.org")
    r.url(public_url, "$.public_url", base=True)
    sec = r.mapping(top.get("security"), "$.security", _SECURITY)
    algorithms = r.strings(sec, "algorithms", "$.security") or ("ES384", "RS384")
    for i, alg in enumerate(algorithms):
        if alg not in ALLOWED_ALGORITHMS:
            r.fail(f"$.security.algorithms[{i}]",
                   f"{alg!r} is not allowed (asymmetric only: {', '.join(ALLOWED_ALGORITHMS)})")
    issuers = []
    raw_issuers = sec.get("issuers")
    if not isinstance(raw_issuers, list) or not raw_issuers:
        r.fail("$.security.issuers", "required: a non-empty list of the EHRs allowed to call "
                                     "(iss, and jku and/or jwks_url)")
        raw_issuers = []
    for i, raw in enumerate(raw_issuers):
        path = f"$.security.issuers[{i}]"
        item = r.mapping(raw, path, _ISSUER)
        iss = r.string(item, "iss", path)
        if iss is None:
            r.fail(f"{path}.iss", "required: the issuer's iss claim")
        jku = r.strings(item, "jku", path)
        for j, url in enumerate(jku):
            r.url(url, f"{path}.jku[{j}]")
        jwks_url = r.string(item, "jwks_url", path)
        r.url(jwks_url, f"{path}.jwks_url")
        if not jku and jwks_url is None:
            r.fail(path, "give jku (the key-set URLs its tokens may name) or jwks_url")
        servers = r.strings(item, "fhir_servers", path)
        for j, url in enumerate(servers):
            r.url(url, f"{path}.fhir_servers[{j}]", base=True)
        if iss is not None:
            issuers.append(Issuer(iss, jku, jwks_url, r.strings(item, "tenants", path),
                                  servers))
    if len({i.iss for i in issuers}) != len(issuers):
        r.fail("$.security.issuers", "an iss is listed twice")
    security = Security(
        algorithms=algorithms,
        issuers=tuple(issuers),
        leeway_seconds=r.number(sec, "leeway_seconds", "$.security", 30, minimum=0),
        max_lifetime_seconds=r.number(sec, "max_lifetime_seconds", "$.security", 300),
        jwks_timeout_seconds=r.number(sec, "jwks_timeout_seconds", "$.security", 2.0,
                                      integer=False, minimum=0.01),
        jwks_max_bytes=r.number(sec, "jwks_max_bytes", "$.security", 65536),
        jwks_cache_seconds=r.number(sec, "jwks_cache_seconds", "$.security", 3600, minimum=0),
        jwks_refetch_seconds=r.number(sec, "jwks_refetch_seconds", "$.security", 60,
                                      minimum=0),
        fhir_timeout_seconds=r.number(sec, "fhir_timeout_seconds", "$.security", 5.0,
                                      integer=False, minimum=0.01),
        fhir_max_bytes=r.number(sec, "fhir_max_bytes", "$.security", 4 * 1024 * 1024),
    )
    eng = r.mapping(top.get("engine"), "$.engine", _ENGINE)
    store = r.string(top, "store", "$", "kneerules-service.sqlite") or "kneerules-service.sqlite"
    if base is not None and store != ":memory:" and not Path(store).is_absolute():
        store = str(base / store)  # relative to the configuration file, not the cwd
    config = ServiceConfig(
        public_url=public_url or "http://invalid",
        security=security,
        host=r.string(top, "host", "$", "127.0.0.1") or "127.0.0.1",
        port=r.number(top, "port", "$", 8080, minimum=0),
        workers=r.number(top, "workers", "$", 1),
        store=store,
        service_id=r.string(top, "service_id", "$", "kneerules-knee-triage")
        or "kneerules-knee-triage",
        cors_origins=r.strings(top, "cors_origins", "$"),
        engine=EngineSettings(r.string(eng, "ruleset", "$.engine", "posterior-knee")
                              or "posterior-knee", r.strings(eng, "disable", "$.engine")),
        source=source,
    )
    if r.problems:
        raise ServiceConfigError(r.problems, source)
    return config


def load_config(path: str | Path) -> ServiceConfig:
    """The configuration in the YAML file at ``path``; raises :class:`ServiceConfigError`."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ServiceConfigError([Problem("$", f"cannot read: {error.strerror}")],
                                 str(path)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "$"
        raise ServiceConfigError([Problem(where, f"not valid YAML: {error}")],
                                 str(path)) from None
    return parse_config(data, str(path), base=path.resolve().parent)
