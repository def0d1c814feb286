"""``/sdk/check_connection``."""

from __future__ import annotations

from typing import Any

from picsellia_tf.local import answers
from picsellia_tf.local.app import Ctx, Route


def check_connection(ctx: Ctx) -> dict[str, Any]:
    """Who the token belongs to."""
    return answers.account(ctx.user)


ROUTES = [Route("GET", "/sdk/check_connection", check_connection, tx=False)]
