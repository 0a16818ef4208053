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
    keys: Mapping[str, Mapping[str, Any]] | None = None
    """Public keys by kid, configured inline (``jwks``) or in a local file (``jwks_file``):
    used as they are, never fetched."""


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
    jti_retention_seconds: int = 3600

    def issuer(self, iss: str) -> Issuer | None:
        return next((i for i in self.issuers if i.iss == iss), None)


@attrs.frozen
class EngineSettings:
    ruleset: str = "posterior-knee"
    disable: tuple[str, ...] = ()


@attrs.frozen
class Limits:
    """What one worker takes from a client before it answers (see docs/service.md)."""

    max_header_bytes: int = 16384
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 20.0
    max_connections: int = 200
    max_body_bytes: int = 4 * 1024 * 1024


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
    hooks: tuple[str, ...] = ("patient-view", "encounter-start")
    limits: Limits = Limits()
    source: str = "<config>"

    def hook_id(self, hook: str) -> str:
        """The service id of ``hook``: one id per hook, as clients key services by id."""
        return f"{self.service_id}-{hook}"

    def audience(self, path: str) -> str:
        return self.public_url + path


_TOP = {"public_url", "host", "port", "workers", "store", "service_id", "cors_origins",
        "engine", "security", "hooks", "limits"}
_SECURITY = {"algorithms", "issuers", "leeway_seconds", "max_lifetime_seconds",
             "jwks_timeout_seconds", "jwks_max_bytes", "jwks_cache_seconds",
             "jwks_refetch_seconds", "fhir_timeout_seconds", "fhir_max_bytes",
             "jti_retention_seconds"}
_ISSUER = {"iss", "jku", "jwks_url", "jwks", "jwks_file", "tenants", "fhir_servers"}
_LIMITS = {"max_header_bytes", "header_timeout_seconds", "body_timeout_seconds",
           "max_connections", "max_body_bytes"}
HOOKS = ("patient-view", "encounter-start")
MAX_LIFETIME = 3600
"""Longer-lived tokens are refused in the configuration: a stolen one would be good too long."""
_LOOPBACK_HOSTS = {"localhost", "::1"}


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (a name or an address) is this machine's loopback."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host in _LOOPBACK_HOSTS:
        return True
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
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
        sources = [(f"{path}.jku[{j}]", url) for j, url in enumerate(jku)]
        sources.append((f"{path}.jwks_url", jwks_url or ""))
        for where, url in sources:
            parts = urlsplit(url)
            if parts.scheme == "http" and not is_loopback(parts.hostname):
                r.fail(where, f"{url!r}: a key set over plain http can be swapped on the way; "
                              "use https (http only on a loopback host)")
        keys = _local_keys(r, item, path, base)
        if not jku and jwks_url is None and keys is None:
            r.fail(path, "give jku (the key-set URLs its tokens may name), jwks_url, or the "
                         "keys themselves (jwks inline or jwks_file)")
        servers = r.strings(item, "fhir_servers", path)
        for j, url in enumerate(servers):
            r.url(url, f"{path}.fhir_servers[{j}]", base=True)
        if iss is not None:
            issuers.append(Issuer(iss, jku, jwks_url, r.strings(item, "tenants", path),
                                  servers, keys))
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
        jti_retention_seconds=r.number(sec, "jti_retention_seconds", "$.security", 3600),
    )
    if security.max_lifetime_seconds > MAX_LIFETIME:
        r.fail("$.security.max_lifetime_seconds",
               f"{security.max_lifetime_seconds} is over an hour ({MAX_LIFETIME}): a stolen "
               "token would be good for too long")
    if security.leeway_seconds > security.jti_retention_seconds:
        r.fail("$.security.leeway_seconds",
               f"{security.leeway_seconds}s is longer than the jti retention "
               f"({security.jti_retention_seconds}s, security.jti_retention_seconds): an "
               "expired token would be accepted after its jti was forgotten, and replayed")
    lim = r.mapping(top.get("limits"), "$.limits", _LIMITS)
    limits = Limits(
        max_header_bytes=r.number(lim, "max_header_bytes", "$.limits", 16384, minimum=1024),
        header_timeout_seconds=r.number(lim, "header_timeout_seconds", "$.limits", 10.0,
                                        integer=False, minimum=0.1),
        body_timeout_seconds=r.number(lim, "body_timeout_seconds", "$.limits", 20.0,
                                      integer=False, minimum=0.1),
        max_connections=r.number(lim, "max_connections", "$.limits", 200),
        max_body_bytes=r.number(lim, "max_body_bytes", "$.limits", 4 * 1024 * 1024,
                                minimum=1024),
    )
    hooks = r.strings(top, "hooks", "$") if "hooks" in top else HOOKS
    for i, hook in enumerate(hooks):
        if hook not in HOOKS:
            r.fail(f"$.hooks[{i}]", f"{hook!r} is not a hook kneerules answers (one of "
                                    f"{', '.join(HOOKS)})")
    if not hooks:
        r.fail("$.hooks", f"expected at least one of {', '.join(HOOKS)}")
    cors = r.strings(top, "cors_origins", "$")
    for i, origin in enumerate(cors):
        if "*" in origin:
            r.fail(f"$.cors_origins[{i}]", f"{origin!r}: list the EHR origins one by one; a "
                                           "wildcard lets any web page call the service")
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
        cors_origins=cors,
        engine=EngineSettings(r.string(eng, "ruleset", "$.engine", "posterior-knee")
                              or "posterior-knee", r.strings(eng, "disable", "$.engine")),
        hooks=tuple(dict.fromkeys(hooks)),
        limits=limits,
        source=source,
    )
    if config.store == ":memory:" and config.workers > 1:
        r.fail("$.store", memory_store_problem(config.workers))
    if r.problems:
        raise ServiceConfigError(r.problems, source)
    return config


def memory_store_problem(workers: int) -> str:
    return (f'":memory:" with {workers} workers: each worker would keep its own store, so a '
            "token used on one could be replayed on another; give a file")


_MAX_CONFIG_BYTES = 1024 * 1024


def _local_keys(r: _Reader, item: Mapping[str, Any], path: str, base: Path | None
                ) -> dict[str, Mapping[str, Any]] | None:
    """The issuer's public keys by kid, from ``jwks`` (inline) or ``jwks_file``."""
    inline, file = item.get("jwks"), item.get("jwks_file")
    if inline is None and file is None:
        return None
    if inline is not None and file is not None:
        r.fail(path, "give jwks or jwks_file, not both")
        return None
    where = f"{path}.jwks"
    if file is not None:
        where = f"{path}.jwks_file"
        if not isinstance(file, str) or not file:
            r.fail(where, f"expected the path of a JSON Web Key Set file, got {file!r}")
            return None
        target = Path(file) if Path(file).is_absolute() or base is None else base / file
        try:
            from kneerules.cases.validation import parse_json

            inline = parse_json(target.read_bytes(), str(target), max_bytes=_MAX_CONFIG_BYTES)
        except OSError as error:
            r.fail(where, f"cannot read {str(target)!r}: {error.strerror}")
            return None
        except KneerulesError as error:
            r.fail(where, f"{str(target)!r} is not a JSON Web Key Set: {error}")
            return None
    keys = inline.get("keys") if isinstance(inline, Mapping) else None
    if not isinstance(keys, list) or not keys:
        r.fail(where, "expected a JSON Web Key Set: {keys: [{kid, kty, ...}, ...]}")
        return None
    found: dict[str, Mapping[str, Any]] = {}
    for j, key in enumerate(keys):
        if not isinstance(key, Mapping) or not isinstance(key.get("kid"), str):
            r.fail(f"{where}.keys[{j}]", "expected a public JWK with a kid")
        elif "d" in key:
            r.fail(f"{where}.keys[{j}]", "a private key: give only the public part")
        else:
            found[key["kid"]] = dict(key)
    return found


def load_config(path: str | Path) -> ServiceConfig:
    """The configuration in the YAML file at ``path``; raises :class:`ServiceConfigError`."""
    from kneerules.knowledge.loading import read_yaml

    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ServiceConfigError([Problem("$", f"cannot read: {error.strerror}")],
                                 str(path)) from None
    if len(raw) > _MAX_CONFIG_BYTES:
        raise ServiceConfigError([Problem("$", f"larger than {_MAX_CONFIG_BYTES} bytes")],
                                 str(path))
    try:
        # The guarded loader of the rule files: an alias bomb is refused before expanding.
        data = read_yaml(raw.decode("utf-8"), str(path))
    except UnicodeDecodeError:
        raise ServiceConfigError([Problem("$", "not UTF-8 text")], str(path)) from None
    except KneerulesError as error:
        problems = getattr(error, "problems", None) or [Problem("$", str(error))]
        raise ServiceConfigError(problems, str(path)) from None
    return parse_config(data, str(path), base=path.resolve().parent)
