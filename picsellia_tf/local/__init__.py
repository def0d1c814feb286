"""The local platform: the Picsellia v1 API (docs/wire.md) served from SQLite and a folder.

Used by the tests and examples, and by users with ``picsellia-tf serve``. It imports nothing
from the client side.
"""

from __future__ import annotations

from picsellia_tf.local.faults import Faults
from picsellia_tf.local.server import LocalServer

__all__ = ["Faults", "LocalServer"]
