"""The token's account: ``GET /sdk/check_connection``."""

from __future__ import annotations

from picsellia_tf import types, wire
from picsellia_tf.api._base import Endpoints


class Account(Endpoints):
    """What the platform says of the token (``client.account``)."""

    def check_connection(self) -> types.Account:
        """Check that the platform answers and accepts the token; what it said of the token
        (any field may be None)."""
        return wire.parse_account(self._transport.request("GET", "/sdk/check_connection"))
