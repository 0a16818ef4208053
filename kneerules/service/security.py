"""Who may call: the CDS Hooks 2.0 JWT checks, in an order that fetches nothing for a stranger.

1. a bearer token whose header names a configured asymmetric ``alg`` and a ``kid``;
2. its (still unverified) ``iss`` on the allow-list, and its ``jku`` on that issuer's list;
3. only then the key set, fetched with a timeout, a size cap and no redirects, cached, and
   fetched again for an unknown ``kid`` at most once per ``jwks_refetch_seconds``;
4. the signature, ``aud`` (the public URL of the endpoint called), ``exp``, ``iat`` (not in
   the future, lifetime capped), ``nbf``, the tenant allow-list;
5. the ``jti`` claimed in the store shared by every worker: a replay is refused.

Every failure is :class:`Unauthorized`, which the app turns into a bare 401; the reason is
only logged, never sent.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

import attrs
import jwt
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from kneerules.service.config import Issuer, Security
from kneerules.service.fetching import FetchError, get_json
from kneerules.service.store import Store

log = logging.getLogger("kneerules.service.security")

MAX_TOKEN_CHARS = 8192
"""A CDS Hooks JWT is well under 2 KB; a longer one is refused before it is decoded."""
MAX_JTI_CHARS = 256


class Unauthorized(Exception):
    """The call is refused; the message is for the log only."""


@attrs.frozen
class Caller:
    """Who made a verified call."""

    iss: str
    tenant: str | None
    sub: str | None


def fetch_jwks(url: str, timeout: float, max_bytes: int) -> dict[str, Any]:
    """The JSON Web Key Set at ``url``; raises :class:`Unauthorized` on any problem."""
    try:
        data = get_json(url, timeout, max_bytes)
    except FetchError as error:
        raise Unauthorized(f"key set {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise Unauthorized(f"key set {url}: no 'keys' list")
    return data


@attrs.define
class _CachedSet:
    keys: dict[str, dict[str, Any]]
    fetched: float


class KeySets:
    """Key sets by URL, cached, refreshed in the background.

    A stranger's token must never make a caller wait on someone else's key-set server:
    a set past ``jwks_cache_seconds``, or an unknown kid, starts at most one background
    fetch per URL per ``jwks_refetch_seconds`` while the keys in hand keep being used
    (an unknown kid is refused meanwhile). Only a URL never fetched yet is waited for,
    and then for at most ``jwks_timeout_seconds``, by callers sharing the one fetch.
    """

    def __init__(self, security: Security,
                 fetch: Callable[[str, float, int], dict[str, Any]] = fetch_jwks) -> None:
        self.security = security
        self._fetch = fetch
        self._sets: dict[str, _CachedSet] = {}
        self._started: dict[str, float] = {}
        self._inflight: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def refresh(self, url: str) -> threading.Event | None:
        """Starts a background fetch of ``url`` unless one is running (its event is
        returned) or one started less than ``jwks_refetch_seconds`` ago (None)."""
        with self._lock:
            running = self._inflight.get(url)
            if running is not None:
                return running
            last = self._started.get(url)
            now = time.monotonic()
            if last is not None and now - last < self.security.jwks_refetch_seconds:
                return None
            self._started[url] = now
            done = self._inflight[url] = threading.Event()
        threading.Thread(target=self._load, args=(url, done), daemon=True,
                         name="kneerules-jwks").start()
        return done

    def _load(self, url: str, done: threading.Event) -> None:
        try:
            data = self._fetch(url, self.security.jwks_timeout_seconds,
                               self.security.jwks_max_bytes)
            keys = {k["kid"]: k for k in data["keys"]
                    if isinstance(k, dict) and isinstance(k.get("kid"), str)}
            with self._lock:
                self._sets[url] = _CachedSet(keys, time.monotonic())
        except Unauthorized as error:
            log.warning("%s", error)
        except Exception:  # a background thread has no caller to tell
            log.exception("key set %s: the fetch failed", url)
        finally:
            with self._lock:
                self._inflight.pop(url, None)
            done.set()

    def key(self, url: str, kid: str) -> dict[str, Any]:
        cached = self._sets.get(url)
        if cached is None:
            started = self.refresh(url)
            if started is None:
                raise Unauthorized(f"key set {url}: failed recently, not refetched yet")
            # Bounded whatever the server does (a slow trickle defeats socket timeouts).
            started.wait(self.security.jwks_timeout_seconds + 0.5)
            cached = self._sets.get(url)
            if cached is None:
                raise Unauthorized(f"key set {url}: not available")
        elif time.monotonic() - cached.fetched > self.security.jwks_cache_seconds:
            self.refresh(url)  # served stale meanwhile
        if kid in cached.keys:
            return cached.keys[kid]
        if self.refresh(url) is None:
            raise Unauthorized(f"unknown kid {kid!r} (key set refetched recently)")
        raise Unauthorized(f"unknown kid {kid!r} in {url} (its key set is being refetched)")


_KEY_TYPES: dict[str, tuple[str, Any]] = {
    "ES": ("EC", ECAlgorithm), "RS": ("RSA", RSAAlgorithm), "PS": ("RSA", RSAAlgorithm)}


def _public_key(jwk: dict[str, Any], alg: str) -> Any:
    kty, algorithm = _KEY_TYPES[alg[:2]]
    if jwk.get("kty") != kty or jwk.get("alg", alg) != alg or "d" in jwk:
        raise Unauthorized(f"key {jwk.get('kid')!r} does not fit {alg}")
    try:
        return algorithm.from_jwk(jwk)
    except (jwt.InvalidKeyError, ValueError, TypeError, KeyError) as error:
        raise Unauthorized(f"key {jwk.get('kid')!r} unusable: {error}") from None


class Verifier:
    """Checks a request's bearer token; one per worker process."""

    def __init__(self, security: Security, store: Store, key_sets: KeySets | None = None
                 ) -> None:
        self.security = security
        self.store = store
        self.key_sets = key_sets or KeySets(security)

    def header_checks(self, token: str) -> tuple[dict[str, Any], Issuer, str | None]:
        """The header, issuer and key-set URL (None: the issuer's configured keys), before
        anything is fetched."""
        if len(token) > MAX_TOKEN_CHARS:
            raise Unauthorized(f"token of {len(token)} characters (at most {MAX_TOKEN_CHARS})")
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, options={"verify_signature": False})
        except (jwt.PyJWTError, RecursionError, ValueError, TypeError) as error:
            raise Unauthorized(f"malformed token: {type(error).__name__}: "
                               f"{str(error)[:200]}") from None
        if not isinstance(claims, dict):
            raise Unauthorized("malformed token: the payload is not a JSON object")
        alg = header.get("alg")
        if alg not in self.security.algorithms:
            raise Unauthorized(f"alg {alg!r} is not accepted")
        if not isinstance(header.get("kid"), str) or not header["kid"]:
            raise Unauthorized("no kid in the token's header")
        iss = claims.get("iss")
        issuer = self.security.issuer(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise Unauthorized(f"unknown iss {iss!r}")
        jku = header.get("jku")
        if issuer.keys is not None:
            # Keys pinned in the configuration: nothing is ever fetched, so a jku is only a
            # hint (the CDS Hooks sandbox always names its public one); if the issuer also
            # lists jku URLs, a token naming another is still refused.
            if jku is not None and issuer.jku and jku not in issuer.jku:
                raise Unauthorized(f"jku {jku!r} is not on the allow-list of {iss!r}")
            return header, issuer, None
        if jku is not None:
            if jku not in issuer.jku:
                raise Unauthorized(f"jku {jku!r} is not on the allow-list of {iss!r}")
            return header, issuer, jku
        if issuer.jwks_url is None:
            raise Unauthorized(f"no jku, and no jwks_url configured for {iss!r}")
        return header, issuer, issuer.jwks_url

    def verify(self, authorization: str | None, audience: str) -> Caller:
        """The verified caller of a request with this Authorization header, or Unauthorized."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("no bearer token")
        token = token.strip()
        header, issuer, url = self.header_checks(token)
        alg = header["alg"]
        if url is None:
            assert issuer.keys is not None
            jwk = issuer.keys.get(header["kid"])
            if jwk is None:
                raise Unauthorized(f"unknown kid {header['kid']!r} among the configured keys "
                                   f"of {issuer.iss!r}")
            key = _public_key(dict(jwk), alg)
        else:
            key = _public_key(self.key_sets.key(url, header["kid"]), alg)
        sec = self.security
        try:
            claims = jwt.decode(
                token, key, algorithms=[alg], audience=audience, issuer=issuer.iss,
                leeway=sec.leeway_seconds,
                options={"require": ["iss", "aud", "exp", "iat", "jti"]})
        except (jwt.PyJWTError, RecursionError, ValueError, TypeError) as error:
            raise Unauthorized(f"token refused: {error!r}"[:300]) from None
        now = time.time()
        iat, exp = claims["iat"], claims["exp"]
        for name in ("iat", "exp", "nbf"):
            value = claims.get(name)
            # PyJWT takes "exp": "1700000000" (it calls int()); RFC 7519 wants a number.
            if name in claims and (isinstance(value, bool) or not isinstance(value, int | float)
                                   or not math.isfinite(value)):
                raise Unauthorized(f"{name} is not a number: {str(value)[:40]!r}")
        if iat > now + sec.leeway_seconds:
            raise Unauthorized("iat is in the future")
        if exp - iat > sec.max_lifetime_seconds:
            raise Unauthorized(f"lifetime {exp - iat}s is over {sec.max_lifetime_seconds}s")
        tenant = claims.get("tenant")
        if issuer.tenants and tenant not in issuer.tenants:
            raise Unauthorized(f"tenant {tenant!r} is not allowed for {issuer.iss!r}")
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_CHARS:
            raise Unauthorized(f"jti is not a string of 1 to {MAX_JTI_CHARS} characters")
        try:
            first = self.store.claim_jti(issuer.iss, jti, int(exp))
        except sqlite3.Error as error:  # a replay cannot be ruled out: fail closed
            log.error("the jti store failed: %s", error)
            raise Unauthorized("the jti store is unavailable") from None
        if not first:
            raise Unauthorized(f"jti {jti!r} replayed")
        sub = claims.get("sub")
        return Caller(issuer.iss, tenant if isinstance(tenant, str) else None,
                      sub if isinstance(sub, str) else None)
