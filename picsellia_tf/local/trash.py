"""Storage files no row needs: recorded in the transaction that stops needing them, deleted
after it commits, or at the next start if the server died in between.

An upload puts its bytes under a new object name that is in the trash until the transaction
that points a row at it (and records its checksum) takes it out and puts the row's old name in;
a deletion puts the deleted rows' files or folders in. So after a kill at any point, the next
start (:func:`empty_all`) removes exactly the files no row points at, and every row still
serves the bytes its checksum names.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable

from picsellia_tf.local.storage import Storage
from picsellia_tf.local.store import Store

log = logging.getLogger("picsellia_tf.local")

Item = tuple[str, bool]  # (object name or folder, whether a folder)


def throw(db: sqlite3.Connection, items: Iterable[Item]) -> None:
    """Put objects (or folders) in the trash, in the transaction ``db``."""
    db.executemany(
        "INSERT OR REPLACE INTO trash (name, tree) VALUES (?, ?)",
        ((name, int(tree)) for name, tree in items),
    )


def keep(db: sqlite3.Connection, names: Iterable[str]) -> None:
    """Take objects out of the trash, in the transaction ``db`` (a row now points at them)."""
    db.executemany("DELETE FROM trash WHERE name = ?", ((name,) for name in names))


def empty(store: Store, storage: Storage, items: list[Item]) -> None:
    """Delete these trashed files and folders, then forget them (a failed deletion is kept,
    retried at the next start)."""
    done = []
    for name, tree in items:
        try:
            if tree:
                storage.delete_prefix(name)
            else:
                storage.delete(name)
            done.append(name)
        except (OSError, ValueError) as exc:
            log.warning("could not delete %r from storage: %s", name, exc)
    if done:
        with store.tx() as db:
            keep(db, done)


def empty_all(store: Store, storage: Storage) -> int:
    """Delete everything in the trash (at start, before serving); how many entries."""
    with store.tx() as db:
        items = [(row[0], bool(row[1])) for row in db.execute("SELECT name, tree FROM trash")]
    empty(store, storage, items)
    return len(items)
