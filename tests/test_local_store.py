"""The local platform's database: transactions stay usable whatever ends them."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from picsellia_tf.local.store import Store


def test_an_error_after_sqlite_ended_the_transaction_is_not_masked(tmp_path: Path) -> None:
    store = Store(tmp_path)
    try:
        with pytest.raises(KeyError, match="the handler's own error"):
            with store.tx() as db:
                db.execute("INSERT INTO orgs (id, name) VALUES ('a', 'kept')")
                db.execute("COMMIT")  # as SQLite does on its own after some I/O errors
                raise KeyError("the handler's own error")
        with store.tx() as db:  # the next transaction starts cleanly
            assert db.execute("SELECT name FROM orgs WHERE id = 'a'").fetchone()[0] == "kept"
    finally:
        store.close()


def test_a_failed_commit_is_rolled_back_and_the_store_stays_usable(tmp_path: Path) -> None:
    store = Store(tmp_path)
    try:
        with store.tx() as db:
            db.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
            db.execute(
                "CREATE TABLE child (parent INTEGER REFERENCES parent (id) "
                "DEFERRABLE INITIALLY DEFERRED)"
            )
        store._connect().execute("PRAGMA foreign_keys = ON")
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
            with store.tx() as db:
                db.execute("INSERT INTO child VALUES (42)")  # checked only at COMMIT
        with store.tx() as db:
            assert db.execute("SELECT COUNT(*) FROM child").fetchone()[0] == 0
    finally:
        store.close()


def test_reads_go_on_while_a_write_holds_the_lock_and_see_only_commits(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.create_user("a@b", None)
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with store.tx() as db:
            db.execute("DELETE FROM users")
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(10)
        with store.read() as db:  # not blocked by the write lock; sees the last commit
            assert db.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 1
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                db.execute("DELETE FROM users")
    finally:
        release.set()
        thread.join()
    with store.read() as db:
        assert db.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 0
    store.close()
