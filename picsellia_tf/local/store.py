"""The SQLite database: schema, transactions, users and tokens.

Writes go through one connection guarded by a lock: each request's work runs in one
transaction (``with store.tx() as db``), so it is all-or-nothing and never sees another request's
half. Reads (``with store.read() as db``) run on pooled read-only connections, without that
lock: SQLite's WAL lets them see the last committed state while a write goes on.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DB_NAME = "picsellia.db"
TOKEN_CACHE = 10.0
DEFAULT_EMAIL = "admin@localhost"
DEFAULT_ORGANISATION = "local"

SCHEMA = """
CREATE TABLE IF NOT EXISTS orgs (
    n INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, name TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    n INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, email TEXT NOT NULL,
    org_id TEXT NOT NULL, token TEXT UNIQUE NOT NULL, is_default INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS datasets (
    n INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, org_id TEXT NOT NULL, name TEXT NOT NULL,
    description TEXT NOT NULL, private INTEGER NOT NULL, created_by TEXT NOT NULL,
    created REAL NOT NULL, UNIQUE (org_id, name));
CREATE TABLE IF NOT EXISTS raw_data (
    n INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, dataset_id TEXT NOT NULL,
    filename TEXT NOT NULL, object_name TEXT NOT NULL, width INTEGER, height INTEGER,
    size INTEGER NOT NULL, checksum TEXT NOT NULL, imported REAL NOT NULL,
    UNIQUE (dataset_id, filename));
CREATE TABLE IF NOT EXISTS projects (
    n INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, org_id TEXT NOT NULL, name TEXT NOT NULL,
    type TEXT NOT NULL, description TEXT NOT NULL, private INTEGER NOT NULL, dataset_id TEXT,
    labels TEXT NOT NULL, team TEXT NOT NULL, image_qa TEXT NOT NULL, shape_qa TEXT NOT NULL,
    automation TEXT, created REAL NOT NULL, UNIQUE (org_id, name));
CREATE TABLE IF NOT EXISTS models (
    n INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, org_id TEXT NOT NULL, name TEXT NOT NULL,
    type TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', private INTEGER NOT NULL DEFAULT 1,
    tags TEXT NOT NULL DEFAULT '[]', github_link TEXT NOT NULL DEFAULT '',
    paper_link TEXT NOT NULL DEFAULT '', last_training_id INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL, UNIQUE (org_id, name));
CREATE TABLE IF NOT EXISTS project_models (
    n INTEGER PRIMARY KEY, project_id TEXT NOT NULL, model_id TEXT NOT NULL,
    UNIQUE (project_id, model_id));
CREATE TABLE IF NOT EXISTS experiments (
    n INTEGER PRIMARY KEY, model_id TEXT NOT NULL, project_id TEXT NOT NULL,
    training_id INTEGER NOT NULL, created REAL NOT NULL, UNIQUE (model_id, training_id));
CREATE TABLE IF NOT EXISTS logs (
    experiment INTEGER NOT NULL, tag TEXT NOT NULL, step INTEGER NOT NULL, value REAL,
    wall_time REAL, PRIMARY KEY (experiment, tag, step)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS previews (
    n INTEGER PRIMARY KEY, experiment INTEGER NOT NULL, object_name TEXT NOT NULL,
    UNIQUE (experiment, object_name));
CREATE TABLE IF NOT EXISTS annotations (
    n INTEGER PRIMARY KEY, project_id TEXT NOT NULL, raw_id TEXT NOT NULL,
    time_spent REAL NOT NULL, qanda TEXT NOT NULL, shapes TEXT NOT NULL,
    UNIQUE (project_id, raw_id));
CREATE INDEX IF NOT EXISTS annotations_raw ON annotations (raw_id);
CREATE TABLE IF NOT EXISTS trash (
    name TEXT PRIMARY KEY, tree INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS annotations_project_n ON annotations (project_id, n);
CREATE INDEX IF NOT EXISTS raw_data_dataset_n ON raw_data (dataset_id, n);
"""


@dataclass(frozen=True)
class User:
    """The caller: a user of one organisation."""

    id: str
    email: str
    org_id: str
    org_name: str

    @property
    def username(self) -> str:
        """The part of the email before ``@``."""
        return self.email.split("@", 1)[0]

    def __repr__(self) -> str:
        return f"User(email={self.email!r}, organisation={self.org_name!r})"


def new_id() -> str:
    """A fresh UUID4 string."""
    return str(uuid.uuid4())


def new_token() -> str:
    """A fresh API token."""
    return secrets.token_hex(20)


def dumps(value: Any) -> str:
    """A JSON column's text."""
    return json.dumps(value)


def loads(text: str | None) -> Any:
    """A JSON column's value."""
    return None if text is None else json.loads(text)


class Store:
    """The database of one data directory."""

    def __init__(self, data_dir: Path):
        self.path = data_dir / DB_NAME
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._readers: list[sqlite3.Connection] = []  # idle read connections
        self._readers_lock = threading.Lock()
        self._generation = 0  # bumped by close(): readers of an older one are not reused
        self._tokens: dict[str, tuple[float, User | None]] = {}
        self._connect()

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        conn.row_factory = sqlite3.Row
        return conn

    def _connect(self) -> sqlite3.Connection:
        with self._lock:
            if self._conn is None:
                conn = self._open()
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.executescript(SCHEMA)
                self._conn = conn
            return self._conn

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """One read-only transaction (a consistent snapshot), without the write lock."""
        if self._conn is None:
            self._connect()  # opens the database and makes the schema
        with self._readers_lock:
            generation = self._generation
            conn = self._readers.pop() if self._readers else None
        if conn is None:
            conn = self._open()
            conn.execute("PRAGMA query_only = ON")  # a write here is a bug: fail loudly
        try:
            conn.execute("BEGIN")
            yield conn
        finally:
            self._release(conn, generation)

    def _release(self, conn: sqlite3.Connection, generation: int) -> None:
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")  # nothing was written
        except sqlite3.Error:
            conn.close()
            return
        with self._readers_lock:
            if generation == self._generation:
                self._readers.append(conn)
                return
        conn.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One transaction: committed if the block succeeds, rolled back if it raises.

        Reopens the database if it was closed.
        """
        with self._lock:
            conn = self._connect()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                # SQLite may have ended the transaction itself (a failed COMMIT stays open, an
                # I/O or full-disk error rolls back): never leave it open, never mask the error.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        """Close the connections (the next transaction reopens them)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        with self._readers_lock:
            readers, self._readers = self._readers, []
            self._generation += 1
            self._tokens.clear()
        for conn in readers:
            conn.close()

    def user_for_token(self, token: str) -> User | None:
        """The user owning ``token``, if any (remembered for ``TOKEN_CACHE`` seconds: tokens
        change only through this store, which forgets them then)."""
        cached = self._tokens.get(token)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        with self.read() as db:
            row = user_row(db, "token", token)
        user = None if row is None else as_user(row)
        if user is not None:  # unknown tokens are not remembered: no memory for guesses
            if len(self._tokens) > 10_000:
                self._tokens.clear()
            self._tokens[token] = (time.monotonic() + TOKEN_CACHE, user)
        return user

    def default_token(self, token: str | None = None) -> str:
        """The default user's token, creating the user (with ``token`` if given) on first use.

        With ``token``, the default user's token becomes ``token``.
        """
        self._tokens.clear()
        with self.tx() as db:
            row = db.execute("SELECT id, token FROM users WHERE is_default = 1").fetchone()
            if row is None:
                org_id = self._org(db, DEFAULT_ORGANISATION)
                value = new_token() if token is None else token
                self._check_free(db, value, None)
                db.execute(
                    "INSERT INTO users (id, email, org_id, token, is_default) VALUES (?,?,?,?,1)",
                    (new_id(), DEFAULT_EMAIL, org_id, value),
                )
                return value
            if token is not None and token != row["token"]:
                self._check_free(db, token, row["id"])
                db.execute("UPDATE users SET token = ? WHERE id = ?", (token, row["id"]))
                return token
            return str(row["token"])

    def create_user(self, email: str, organisation: str | None) -> str:
        """A new user's token; in ``organisation`` (created if missing), else in its own."""
        if "@" not in email:
            raise ValueError(f"email {email!r} must contain '@'")
        with self.tx() as db:
            if organisation is None:
                organisation = self._free_org_name(db, email)
            org_id = self._org(db, organisation)
            token = new_token()
            db.execute(
                "INSERT INTO users (id, email, org_id, token) VALUES (?,?,?,?)",
                (new_id(), email, org_id, token),
            )
            return token

    @staticmethod
    def _check_free(db: sqlite3.Connection, token: str, user_id: str | None) -> None:
        if not token or any(c.isspace() for c in token):
            raise ValueError("a token must be non-empty, without spaces")
        row = db.execute("SELECT id FROM users WHERE token = ?", (token,)).fetchone()
        if row is not None and row[0] != user_id:
            raise ValueError("that token already belongs to another user")

    @staticmethod
    def _org(db: sqlite3.Connection, name: str) -> str:
        row = db.execute("SELECT id FROM orgs WHERE name = ?", (name,)).fetchone()
        if row is not None:
            return str(row[0])
        org_id = new_id()
        db.execute("INSERT INTO orgs (id, name) VALUES (?, ?)", (org_id, name))
        return org_id

    @staticmethod
    def _free_org_name(db: sqlite3.Connection, base: str) -> str:
        name, i = base, 1
        while db.execute("SELECT 1 FROM orgs WHERE name = ?", (name,)).fetchone():
            i += 1
            name = f"{base} ({i})"
        return name


USER_COLUMNS = frozenset({"id", "token"})


def user_row(db: sqlite3.Connection, column: str, value: str) -> Any:
    """The row (``id``, ``email``, ``org_id``, ``org_name``, ``token``) of the user whose
    ``column`` (``id`` or ``token``) is ``value``, or None."""
    if column not in USER_COLUMNS:
        raise ValueError(f"users are found by id or token, not {column!r}")
    return db.execute(
        "SELECT users.id, email, org_id, orgs.name AS org_name, token FROM users "
        f"JOIN orgs ON orgs.id = users.org_id WHERE users.{column} = ?",
        (value,),
    ).fetchone()


def as_user(row: Any) -> User:
    """The :class:`User` of a :func:`user_row` row."""
    return User(row["id"], row["email"], row["org_id"], row["org_name"])


def now() -> float:
    """The current time, as stored."""
    return time.time()
