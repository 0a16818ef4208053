"""The service's parts on their own: configuration errors, the card checker, Markdown
escaping, key-set fetching, an engine failure, a record that cannot be read."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from conftest import KeySetServer
from hook_requests import DVT_FINDINGS, ROUTINE_FINDINGS, hook_request
from hypothesis import given
from hypothesis import strategies as st

from kneerules import Engine, get_plugin_manager, hookimpl
from kneerules.service.cards import escape_markdown
from kneerules.service.config import Security, ServiceConfigError, load_config, parse_config
from kneerules.service.discovery import prefetch_templates
from kneerules.service.hooks import Triager, parse_request
from kneerules.service.security import KeySets, Unauthorized, fetch_jwks
from tests.service.cardcheck import check_card, check_response

GOOD = {"public_url": "https://cds.example.org",
        "security": {"issuers": [{"iss": "https://ehr.example.org",
                                  "jku": ["https://ehr.example.org/jwks.json"]}]}}


def _with(path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(GOOD)
    target: Any = data
    *parents, last = path.split(".")
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return data


_DELETE = object()


def test_good_config_has_safe_defaults() -> None:
    """A minimal configuration accepts ES384 and RS384 only, with a capped token lifetime."""
    config = parse_config(GOOD)
    assert config.security.algorithms == ("ES384", "RS384")
    assert config.security.max_lifetime_seconds == 300
    assert config.audience("/cds-services/x") == "https://cds.example.org/cds-services/x"


@pytest.mark.parametrize(("path", "value", "where", "message"), [
    ("public_url", _DELETE, "$.public_url", "required"),
    ("public_url", "https://cds.example.org/", "$.public_url", "without a trailing '/'"),
    ("public_url", "cds.example.org", "$.public_url", "expected an http(s) URL"),
    ("security.algorithms", ["HS256"], "$.security.algorithms[0]", "'HS256' is not allowed"),
    ("security.algorithms", ["none"], "$.security.algorithms[0]", "'none' is not allowed"),
    ("security.issuers", [], "$.security.issuers", "required"),
    ("security.issuers.0.jku", [], "$.security.issuers[0]", "give jku"),
    ("security.issuers.0.jku", ["ftp://x"], "$.security.issuers[0].jku[0]", "http(s) URL"),
    ("security.max_lifetime_seconds", 0, "$.security.max_lifetime_seconds", ">= 1"),
    ("security.leeway", 5, "$.security.leeway", "did you mean 'leeway_seconds'"),
    ("cors_orgins", ["x"], "$.cors_orgins", "did you mean 'cors_origins'"),
    ("workers", "two", "$.workers", "expected an integer"),
])
def test_config_error_names_the_setting(path: str, value: Any, where: str,
                                        message: str) -> None:
    """Each mistake in the configuration is reported with its path and what was expected."""
    with pytest.raises(ServiceConfigError) as caught:
        parse_config(_with(path, value), "service.yaml")
    assert any(p.path == where and message in p.message for p in caught.value.problems), \
        caught.value.problems


def test_config_file_errors(tmp_path: Path) -> None:
    """A missing file or broken YAML is a clear error naming the file."""
    with pytest.raises(ServiceConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("public_url: [\n")
    with pytest.raises(ServiceConfigError, match="not valid YAML"):
        load_config(broken)


def test_example_config_loads() -> None:
    """examples/service.yaml, the README's sample, is a valid configuration."""
    config = load_config(Path(__file__).parents[2] / "examples" / "service.yaml")
    assert config.security.issuers


CARD = {"uuid": "0b8e8a9e-6d1c-4a51-9a4f-1d2f7d6c1e11", "summary": "Knee: see a doctor.",
        "indicator": "info", "detail": "text", "source": {"label": "kneerules"},
        "overrideReasons": [{"system": "urn:x", "code": "c", "display": "C"}]}


@pytest.mark.parametrize(("change", "where"), [
    ({"summary": "x" * 140}, "$.summary"),
    ({"summary": None}, "$.summary"),
    ({"indicator": "hard-stop"}, "$.indicator"),
    ({"source": {}}, "$.source"),
    ({"source": {"label": "k", "url": "not a url"}}, "$.source.url"),
    ({"uuid": "card-1"}, "$.uuid"),
    ({"detail": ""}, "$.detail"),
    ({"overrideReasons": [{"system": "urn:x", "code": "c"}]}, "$.overrideReasons[0].display"),
    ({"links": []}, "$.links"),
    ({"suggestions": [{"label": "do"}]}, "$.selectionBehavior"),
    ({"sumary": "typo"}, "$.sumary"),
])
def test_card_checker_finds_each_mistake(change: dict[str, Any], where: str) -> None:
    """The checker reports a card that breaks the specification, at the attribute."""
    assert check_card(CARD) == []
    problems = check_card({**CARD, **change})
    assert any(p.path.startswith(where) for p in problems), problems


def test_response_checker_wants_unique_uuids() -> None:
    """Two cards with one uuid, or no cards list, are reported."""
    assert check_response({"cards": []}) == []
    assert check_response({"cards": [CARD, CARD]})
    assert check_response({})


@given(st.text(max_size=200))
def test_escaped_text_is_inert(text: str) -> None:
    """Escaped input has no raw HTML, no line break and no unescaped Markdown markup."""
    escaped = escape_markdown(text)
    assert "<" not in escaped
    assert ">" not in escaped
    assert "\n" not in escaped
    unescaped = escaped.replace("\\\\", "")
    for mark in "*_[]`()!#|":
        assert all(unescaped[i - 1] == "\\" for i, ch in enumerate(unescaped)
                   if ch == mark and i > 0), mark
        assert not unescaped.startswith(mark)


def test_script_in_input_is_escaped() -> None:
    """A script tag or a Markdown link in a record reaches the card as plain text."""
    assert escape_markdown("<script>x</script>") == "&lt;script&gt;x&lt;/script&gt;"
    assert escape_markdown("[click](javascript:x)") == "\\[click\\]\\(javascript\\:x\\)"


# --- Key sets -------------------------------------------------------------------------------

def test_key_set_fetch_limits(key_sets: KeySetServer) -> None:
    """Redirects are not followed, oversized sets and slow servers are refused."""
    assert fetch_jwks(key_sets.url("/ec.json"), 2, 65536)["keys"]
    with pytest.raises(Unauthorized, match="HTTP 302"):
        fetch_jwks(key_sets.url("/redirect.json"), 2, 65536)
    with pytest.raises(Unauthorized, match="larger than 4096 bytes"):
        fetch_jwks(key_sets.url("/big.json"), 2, 4096)
    with pytest.raises(Unauthorized, match="timed out"):
        fetch_jwks(key_sets.url("/slow.json"), 0.3, 65536)


def test_unknown_kid_refetches_once_per_interval() -> None:
    """A key set is cached; an unknown kid refetches it once, then not again for a while."""
    fetched: list[str] = []

    def fetch(url: str, timeout: float, max_bytes: int) -> dict[str, Any]:
        fetched.append(url)
        return {"keys": [{"kid": "k1", "kty": "EC"}]}

    sets = KeySets(Security(jwks_refetch_seconds=60), fetch)
    assert sets.key("https://k", "k1")["kid"] == "k1"
    assert sets.key("https://k", "k1")["kid"] == "k1"
    assert fetched == ["https://k"]
    with pytest.raises(Unauthorized, match="unknown kid"):
        sets.key("https://k", "k2")
    with pytest.raises(Unauthorized, match="unknown kid"):
        sets.key("https://k", "k3")
    assert fetched == ["https://k"]  # fetched within the interval: no refetch
    stale = KeySets(Security(jwks_refetch_seconds=0), fetch)
    assert stale.key("https://k", "k1")["kid"] == "k1"
    with pytest.raises(Unauthorized, match="unknown kid"):
        stale.key("https://k", "k2")
    assert fetched == ["https://k", "https://k", "https://k"]  # one load, one refetch


# --- When no triage can be given ------------------------------------------------------------

class FailingAtEvaluation:
    name = "failing_plugin"

    @hookimpl
    def kneerules_case_facts(self, case: Any, facts: Any) -> Mapping[str, Any]:
        raise RuntimeError("lookup table missing")


def _triager(engine: Engine) -> Triager:
    return Triager(engine, "kneerules-knee-triage", list(prefetch_templates("urn:q", [])))


@pytest.mark.parametrize("case", [DVT_FINDINGS, ROUTINE_FINDINGS], ids=["dvt", "routine"])
def test_engine_failure_is_an_error_and_a_warning(case: dict[str, Any]) -> None:
    """A failing engine gives an error status and 'assess manually', never a routine card."""
    engine = Engine(plugin_manager=get_plugin_manager(entry_points=True,
                                                      extra=[FailingAtEvaluation()]))
    outcome = _triager(engine).answer(parse_request(hook_request(engine, case)))
    assert outcome.status == 500
    [card] = outcome.cards
    assert card["indicator"] == "warning"
    assert "assess manually" in card["summary"]
    assert check_response({"cards": list(outcome.cards)}) == []


def test_unreadable_record_is_a_warning(engine: Engine) -> None:
    """A record the FHIR mapping refuses (another patient's data) gives the warning card."""
    body = hook_request(engine, DVT_FINDINGS)
    body["prefetch"]["conditions"]["entry"][0]["resource"]["subject"] = {
        "reference": "Patient/someone-else"}
    outcome = _triager(engine).answer(parse_request(body))
    assert outcome.status == 200
    [card] = outcome.cards
    assert card["indicator"] == "warning"
    assert "assess manually" in card["summary"]
    assert check_response({"cards": list(outcome.cards)}) == []


# --- The commands ---------------------------------------------------------------------------

def test_serve_with_a_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    """`kneerules serve` with an invalid file exits 1 naming the setting, no traceback."""
    from click.testing import CliRunner

    from kneerules.cli.main import main

    config = tmp_path / "service.yaml"
    config.write_text("public_url: http://127.0.0.1:8080\nsecurity:\n  algorithms: [HS256]\n")
    result = CliRunner().invoke(main, ["serve", "--config", str(config)])
    assert result.exit_code == 1
    assert "$.security.algorithms[0]: 'HS256' is not allowed" in result.output
    assert "$.security.issuers: required" in result.output
    assert "Traceback" not in result.output


def test_feedback_without_a_store_is_a_clear_error(tmp_path: Path) -> None:
    """`kneerules feedback` before the service ever ran says so and exits 1."""
    from click.testing import CliRunner

    from kneerules.cli.main import main

    config = tmp_path / "service.yaml"
    config.write_text(f"public_url: http://127.0.0.1:8080\nstore: {tmp_path / 'none.sqlite'}\n"
                      "security:\n  issuers: [{iss: x, jwks_url: 'http://127.0.0.1:9/k'}]\n")
    result = CliRunner().invoke(main, ["feedback", "--config", str(config)])
    assert result.exit_code == 1
    assert "no feedback store at" in result.output


@pytest.mark.parametrize("header", ["bearer {t}", "Bearer  {t} ", "BEARER {t}"])
def test_bearer_scheme_is_case_insensitive(tmp_path: Path, header: str) -> None:
    """The Authorization scheme is matched without regard to case (RFC 7235)."""
    from kneerules.service.security import Verifier
    from kneerules.service.store import Store

    verifier = Verifier(parse_config(GOOD).security, Store(str(tmp_path / "s.sqlite")))
    # Past the scheme, the header check refuses the (malformed) token itself.
    with pytest.raises(Unauthorized, match="malformed token"):
        verifier.verify(header.format(t="abc"), "https://cds.example.org/cds-services/x")
    with pytest.raises(Unauthorized, match="no bearer token"):
        verifier.verify("Basic abc", "https://cds.example.org/cds-services/x")
