"""Resource values read from requests that several sections share: a project's labels and
team, a preview's object name. Every failure is a 400 naming the field (see :mod:`.validate`).
"""

from __future__ import annotations

import re
from typing import Any

from picsellia_tf._limits import ROLES, TOOLS
from picsellia_tf.local.storage import object_parts
from picsellia_tf.local.store import now
from picsellia_tf.local.validate import objects, one_of, require, shown, text, unique_names
from picsellia_tf.local.web import bad_request

_PREVIEW_FORMAT = "<project_id>/<network_id>/<training_id>/results/<file>"
# as the version's folder is named: ASCII, no sign or 0, within SQLite's integers
_TRAINING_ID = re.compile(r"[1-9][0-9]{0,17}")


def parse_labels(value: Any, name: str) -> list[dict[str, str]]:
    """Labels ``{label_name, tool|type}``, names unique."""
    labels = []
    for item_name, item in objects(value, name):
        label = text(item, "label_name", item_name)
        key = "tool" if "tool" in item else "type"
        tool = one_of(require(item, key, str, item_name), TOOLS, f"{item_name}.{key}")
        labels.append((item_name, {"label_name": label, "tool": tool}))
    unique_names([(f"{n}.label_name", lab["label_name"]) for n, lab in labels], "label")
    return [label for _, label in labels]


def parse_team(value: Any, name: str) -> list[dict[str, str]]:
    """Collaborators ``{email, role}``, emails unique."""
    team = []
    for item_name, item in objects(value, name):
        email = require(item, "email", str, item_name)
        if "@" not in email:
            raise bad_request(f"field '{item_name}.email': {email!r} is not an email address")
        role = one_of(require(item, "role", str, item_name), ROLES, f"{item_name}.role")
        team.append((item_name, {"email": email, "role": role}))
    unique_names([(f"{n}.email", member["email"]) for n, member in team], "email")
    return [member for _, member in team]


def join_team(team: list[dict[str, str]], old: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``team`` with join dates: kept for members already there, now for new ones."""
    joined = {member["email"]: member["joined"] for member in old}
    today = now()
    return [{**member, "joined": joined.get(member["email"], today)} for member in team]


def preview_parts(object_name: str, name: str) -> tuple[str, str, int]:
    """(project_id, network_id, training_id) of a preview's object name, else a 400 naming
    the field ``name``."""
    try:
        parts = object_parts(object_name)
    except ValueError as exc:
        raise bad_request(
            f"field '{name}': {shown(object_name)} is not of the form {_PREVIEW_FORMAT}: {exc}"
        ) from None
    ok = len(parts) == 5 and parts[3] == "results" and _TRAINING_ID.fullmatch(parts[2])
    if not ok:
        raise bad_request(
            f"field '{name}': {shown(object_name)} is not of the form {_PREVIEW_FORMAT}"
        )
    return parts[0], parts[1], int(parts[2])
