"""The web layer: Starlette routes for discovery, calls and feedback, JWT on each, CORS.

Run by ``kneerules serve`` through uvicorn; with several workers each process builds its own
app (engine, key-set cache, store connection) from the configuration file named in
``KNEERULES_SERVICE_CONFIG``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import attrs
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kneerules.service.config import ServiceConfig, load_config
from kneerules.service.discovery import discovery_document, prefetch_templates
from kneerules.service.feedback import BadFeedback, parse_feedback
from kneerules.service.fetching import fetch_prefetch
from kneerules.service.hooks import (
    MAX_BODY_BYTES,
    BadRequest,
    HookRequest,
    MissingPrefetch,
    Triager,
    missing_keys,
    parse_request,
)
from kneerules.service.security import Caller, Unauthorized, Verifier
from kneerules.service.store import Store

CONFIG_ENV = "KNEERULES_SERVICE_CONFIG"
LOG_LEVEL_ENV = "KNEERULES_SERVICE_LOG_LEVEL"
log = logging.getLogger("kneerules.service")

_FHIR_JSON = "application/fhir+json"


def _outcome(status: int, code: str, text: str) -> JSONResponse:
    body = {"resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": text}]}
    return JSONResponse(body, status_code=status, media_type=_FHIR_JSON)


def _unauthorized() -> Response:
    # Bare on purpose: which check failed helps an attacker, not a legitimate EHR.
    return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})


def _fhir_support(engine: Any) -> tuple[str, list[tuple[str, str]]]:
    """The Questionnaire's canonical URL and the Observation codes the FHIR mapping reads."""
    from kneerules.fhir import QUESTIONNAIRE_URL
    from kneerules.fhir.reader import engine_mappings

    codes = sorted({(m.system, code) for m in engine_mappings(engine)
                    if "Observation" in m.resource for code in m.codes})
    return QUESTIONNAIRE_URL, codes


async def _read_json(request: Request, max_bytes: int = MAX_BODY_BYTES) -> Any:
    """The body as JSON, read as the CLI reads a case: a size cap, a depth cap, and no
    duplicate keys, NaN or Infinity (which ``json`` would take silently)."""
    from kneerules.cases.validation import parse_json
    from kneerules.model.errors import CaseError

    size = 0
    chunks = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise BadRequest(f"$: the body is larger than {max_bytes} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    try:
        # Parsing 4 MB is CPU work: off the event loop, which serves every other call.
        return await run_in_threadpool(parse_json, body, None, max_bytes + 1)
    except CaseError as error:
        shown = "; ".join(str(p) for p in error.problems[:5])
        raise BadRequest(f"not JSON as CDS Hooks takes it: {shown}") from None


def setup_logging(level: str) -> None:
    """The ``kneerules.service`` log (each 401's reason at info) to stderr at ``level``."""
    logger = logging.getLogger("kneerules.service")
    logger.setLevel(level.upper())
    if not any(getattr(h, "kneerules", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.kneerules = True  # type: ignore[attr-defined]
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
        logger.addHandler(handler)


def create_app(config: ServiceConfig, engine: Any = None) -> Starlette:
    """The ASGI app for ``config`` (``engine``: one already built, else built from it)."""
    from kneerules.engine import Engine

    engine = engine or Engine(config.engine.ruleset, disable=config.engine.disable)
    questionnaire_url, codes = _fhir_support(engine)
    templates = prefetch_templates(questionnaire_url, codes)
    ids = {hook: config.hook_id(hook) for hook in config.hooks}
    hook_of = {service_id: hook for hook, service_id in ids.items()}
    discovery = discovery_document(ids, engine.info, templates)
    store = Store(config.store, config.security.jti_retention_seconds)
    verifier = Verifier(config.security, store)
    triager = Triager(engine, config.service_id, list(templates), ids)
    max_body = config.limits.max_body_bytes

    async def caller(request: Request) -> Caller | None:
        audience = config.audience(request.url.path)
        try:
            return await run_in_threadpool(verifier.verify,
                                           request.headers.get("authorization"), audience)
        except Unauthorized as error:
            log.info("401 %s %s: %s", request.method, request.url.path, error)
            return None

    async def complete_prefetch(hook: HookRequest, who: Caller) -> HookRequest:
        """Reads missing prefetch from the EHR's FHIR server, when it gave a token and the
        server is on its issuer's list; otherwise the keys stay missing (412)."""
        missing = missing_keys(hook, triager.templates)
        issuer = config.security.issuer(who.iss)
        if not missing or hook.access_token is None or issuer is None or \
                hook.fhir_server is None or hook.fhir_server.rstrip("/") not in issuer.fhir_servers:
            return hook
        found = await run_in_threadpool(
            fetch_prefetch, hook.fhir_server, hook.access_token, hook.patient_id, templates,
            missing, config.security.fhir_timeout_seconds, config.security.fhir_max_bytes)
        return attrs.evolve(hook, prefetch={**hook.prefetch, **found})

    async def services(request: Request) -> Response:
        if await caller(request) is None:
            return _unauthorized()
        return JSONResponse(discovery)

    async def service_caller(request: Request) -> Caller | Response:
        """The verified caller of this service's endpoint, or the answer that refuses it:
        a bare 401 before anything else, then 404 for another service id."""
        who = await caller(request)
        if who is None:
            return _unauthorized()
        if request.path_params["service_id"] not in hook_of:
            return _outcome(404, "not-found", "no such CDS service")
        return who

    async def call(request: Request) -> Response:
        who = await service_caller(request)
        if isinstance(who, Response):
            return who
        try:
            hook = parse_request(await _read_json(request, max_body))
            if hook.hook != hook_of[request.path_params["service_id"]]:
                raise BadRequest(f"$.hook: this service answers "
                                 f"{hook_of[request.path_params['service_id']]}, not {hook.hook}")
            hook = await complete_prefetch(hook, who)
            # Mapping and the rules are CPU work: on a thread, never on the event loop.
            outcome = await run_in_threadpool(triager.answer, hook)
        except BadRequest as error:
            return _outcome(400, "invalid", str(error))
        except MissingPrefetch as missing:
            return _outcome(412, "incomplete",
                            "prefetch keys missing (and not to be read from this "
                            "fhirServer): "
                            + ", ".join(missing.keys))
        try:
            for card in triager.issued(outcome, hook, who.iss, who.tenant):
                await run_in_threadpool(store.record_card, card)
        except sqlite3.Error:
            # The clinician still gets the card; only its link to later feedback is lost.
            log.exception("hook %s: the issued card was not recorded", hook.hook_instance)
        return JSONResponse({"cards": list(outcome.cards)}, status_code=outcome.status)

    async def feedback(request: Request) -> Response:
        who = await service_caller(request)
        if isinstance(who, Response):
            return who
        try:
            items = parse_feedback(await _read_json(request, max_body))
        except (BadRequest, BadFeedback) as error:
            return _outcome(400, "invalid", str(error))
        for i, item in enumerate(items):
            owner = await run_in_threadpool(store.card_owner, item.card)
            if owner != (who.iss, who.tenant):
                # Unknown, or issued to another EHR: feedback cannot be planted on its cards.
                log.info("feedback refused: card %r was not issued to %s (tenant %s)",
                         item.card[:64], who.iss, who.tenant)
                return _outcome(400, "invalid", f"$.feedback[{i}].card: no card with this "
                                                "uuid was issued to this caller")
        await run_in_threadpool(store.record_feedback,
                                request.path_params["service_id"], items, who.iss, who.tenant)
        return Response(status_code=200)

    routes = [
        Route("/cds-services", services, methods=["GET"]),
        Route("/cds-services/{service_id}", call, methods=["POST"]),
        Route("/cds-services/{service_id}/feedback", feedback, methods=["POST"]),
    ]
    middleware = [Middleware(
        CORSMiddleware, allow_origins=list(config.cors_origins),
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type"], max_age=600)]

    async def not_found(request: Request, exc: Exception) -> Response:
        return _outcome(404, "not-found", "no such endpoint")

    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {404: not_found}
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Every allowed key set fetched now, in the background: a first call then rarely
        # waits on a key-set server, and a stranger's token never does.
        for issuer in config.security.issuers:
            for url in (*issuer.jku, *([issuer.jwks_url] if issuer.jwks_url else [])):
                verifier.key_sets.refresh(url)
        yield
        store.close()

    app = Starlette(routes=routes, middleware=middleware, exception_handlers=handlers,
                    lifespan=lifespan)
    app.state.store = store
    return app


def app_from_env() -> Starlette:
    """The app factory uvicorn workers call (``KNEERULES_SERVICE_CONFIG`` names the file)."""
    setup_logging(os.environ.get(LOG_LEVEL_ENV, "warning"))
    return create_app(load_config(os.environ[CONFIG_ENV]))
