"""``/sdk/check_connection``."""

from __future__ import annotations

from typing import Any

from picsellia_tf.local.app import Ctx, Route


def check_connection(ctx: Ctx) -> dict[str, Any]:
    """Who the token belongs to."""
    user = ctx.user
    return {
        "message": "Connection established",
        "username": user.username,
        "email": user.email,
        "organisation": user.org_name,
    }


ROUTES = [Route("GET", "/sdk/check_connection", check_connection, tx=False)]
