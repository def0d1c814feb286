"""``/sdk/check_connection``."""

from __future__ import annotations

from typing import Any

from picsellia_tf.local.app import Ctx, Route


def check_connection(ctx: Ctx) -> dict[str, Any]:
    """The reference's ``{"project_id"}`` (null: local tokens belong to a user, not to one
    project) and, as local additions, who the token belongs to."""
    user = ctx.user
    return {
        "project_id": None,
        "message": "Connection established",
        "username": user.username,
        "email": user.email,
        "organisation": user.org_name,
    }


ROUTES = [Route("GET", "/sdk/check_connection", check_connection, tx=False)]
