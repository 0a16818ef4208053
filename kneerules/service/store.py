"""Durable state shared by every worker process: issued cards, feedback, and seen ``jti``s.

One SQLite file (WAL, a busy timeout) is safe for several processes on one machine and loses
nothing on a restart. The replay check is a single INSERT on the (issuer, jti) primary key,
so two workers racing with the same token cannot both win. Tokens are never stored.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import attrs

_SCHEMA = """
CREATE TABLE IF NOT EXISTS seen_jti (
    issuer TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires INTEGER NOT NULL,
    PRIMARY KEY (issuer, jti)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_jti_expires ON seen_jti (expires);
CREATE TABLE IF NOT EXISTS card (
    uuid TEXT PRIMARY KEY,
    issued TEXT NOT NULL,
    service TEXT NOT NULL,
    hook TEXT NOT NULL,
    hook_instance TEXT NOT NULL,
    issuer TEXT NOT NULL,
    tenant TEXT,
    level TEXT NOT NULL,
    rules TEXT NOT NULL,
    versions TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received TEXT NOT NULL,
    service TEXT NOT NULL,
    card TEXT NOT NULL,
    outcome TEXT NOT NULL,
    outcome_timestamp TEXT,
    reason_system TEXT,
    reason_code TEXT,
    reason_display TEXT,
    user_comment TEXT,
    issuer TEXT NOT NULL,
    tenant TEXT
);
"""

_PURGE_EVERY = 512
"""Expired jtis are deleted every this many claims (cheap, and keeps the table small)."""


def _private(path: str) -> None:
    """Creates the store file readable by its owner only (mode 0600), or makes an existing
    one so: it holds who called and what clinicians wrote. SQLite gives its -wal and -shm
    files the database file's mode; existing ones are tightened too."""
    if path == ":memory:" or path.startswith("file:"):
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as error:  # as sqlite3 would have failed: callers handle sqlite3.Error
        raise sqlite3.OperationalError(f"cannot open the store {path}: {error}") from None
    os.close(fd)
    for name in (path, path + "-wal", path + "-shm"):
        try:
            if os.stat(name).st_mode & 0o077:
                os.chmod(name, 0o600)
        except FileNotFoundError:
            continue


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@attrs.frozen
class IssuedCard:
    uuid: str
    service: str
    hook: str
    hook_instance: str
    issuer: str
    tenant: str | None
    level: str
    rules: tuple[str, ...]
    versions: dict[str, Any]


@attrs.frozen
class Feedback:
    card: str
    outcome: str
    outcome_timestamp: str | None
    reason_system: str | None
    reason_code: str | None
    reason_display: str | None
    user_comment: str | None


@attrs.frozen
class FeedbackRow:
    """One stored feedback with what the card said (rules and versions; None if unknown)."""

    received: str
    service: str
    feedback: Feedback
    issuer: str
    tenant: str | None
    hook_instance: str | None
    level: str | None
    rules: tuple[str, ...]
    versions: dict[str, Any] | None


class Store:
    """A connection per process (opened lazily, so a forked worker opens its own)."""

    def __init__(self, path: str, jti_retention_seconds: int = 3600) -> None:
        self.path = path
        self.jti_retention_seconds = jti_retention_seconds
        self._conn: sqlite3.Connection | None = None
        self._claims = 0
        # Requests are checked on a thread pool: one connection, used by one thread at a time.
        self.lock = threading.RLock()

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            _private(self.path)
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 10000")
            conn.execute("PRAGMA journal_mode = WAL")
            # NORMAL in WAL mode: a committed row survives a process crash; only a power
            # loss can drop the last transactions, acceptable for a replay cache and reviews.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.executescript(_SCHEMA)
            self._conn = conn
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def claim_jti(self, issuer: str, jti: str, expires: int) -> bool:
        """True the first time (issuer, jti) is seen by any worker; False for a replay."""
        with self.lock:
            self._claims += 1
            conn = self.conn
            if self._claims % _PURGE_EVERY == 0:
                conn.execute("DELETE FROM seen_jti WHERE expires < ?",
                             (int(time.time()) - self.jti_retention_seconds,))
            try:
                conn.execute("INSERT INTO seen_jti (issuer, jti, expires) VALUES (?, ?, ?)",
                             (issuer, jti, expires))
            except sqlite3.IntegrityError:
                return False
            return True

    def record_card(self, card: IssuedCard) -> None:
        with self.lock:
            self._record_card(card)

    def _record_card(self, card: IssuedCard) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO card VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (card.uuid, _now_iso(), card.service, card.hook, card.hook_instance, card.issuer,
             card.tenant, card.level, json.dumps(card.rules),
             json.dumps(card.versions, sort_keys=True)))

    def card_owner(self, uuid: str) -> tuple[str, str | None] | None:
        """The issuer and tenant a card was issued to, or None if this service never issued it."""
        with self.lock:
            row = self.conn.execute("SELECT issuer, tenant FROM card WHERE uuid = ?",
                                    (uuid,)).fetchone()
        return None if row is None else (row[0], row[1])

    def record_feedback(self, service: str, items: Sequence[Feedback], issuer: str,
                        tenant: str | None) -> None:
        received = _now_iso()
        rows = [(received, service, f.card, f.outcome, f.outcome_timestamp, f.reason_system,
                 f.reason_code, f.reason_display, f.user_comment, issuer, tenant)
                for f in items]
        with self.lock:
            conn = self.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "INSERT INTO feedback (received, service, card, outcome, "
                    "outcome_timestamp, reason_system, reason_code, reason_display, "
                    "user_comment, issuer, tenant) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def feedback(self) -> Iterator[FeedbackRow]:
        """Every stored feedback, oldest first, joined with the card it is about."""
        with self.lock:
            rows = self.conn.execute(
                "SELECT f.received, f.service, f.card, f.outcome, f.outcome_timestamp, "
                "f.reason_system, f.reason_code, f.reason_display, f.user_comment, f.issuer, "
                "f.tenant, c.hook_instance, c.level, c.rules, c.versions "
                "FROM feedback f LEFT JOIN card c ON c.uuid = f.card ORDER BY f.id").fetchall()
        for row in rows:
            yield FeedbackRow(
                received=row[0], service=row[1],
                feedback=Feedback(row[2], row[3], row[4], row[5], row[6], row[7], row[8]),
                issuer=row[9], tenant=row[10], hook_instance=row[11], level=row[12],
                rules=tuple(json.loads(row[13])) if row[13] else (),
                versions=json.loads(row[14]) if row[14] else None)
