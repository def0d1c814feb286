"""Models: ``models_list``, ``model_infos`` (read, update), ``delete_model``."""

from __future__ import annotations

import builtins
from typing import Any

from picsellia_tf import wire
from picsellia_tf.api._base import Endpoints, flag, ident, parse_items, route, string, text
from picsellia_tf.errors import ValidationError
from picsellia_tf.types import Model, ModelSummary

_STR_FIELDS = ("model_name", "description", "github_link", "paper_link")
UPDATABLE = (*_STR_FIELDS, "private", "tags")


class Models(Endpoints):
    """The models of the token's organisation (created by ``experiments.init``)."""

    def list(self) -> builtins.list[ModelSummary]:
        """Every model, with its type, tags and the projects using it (``get(id)`` has the
        rest, experiment versions included)."""
        answer = self._transport.request("GET", "/api/v1/models_list")
        return parse_items(answer, "models_list", wire.parse_model_summary)

    def get(self, id: str) -> Model:
        """One model in full, with its experiment versions."""
        answer = self._transport.request("GET", route("/api/v1/model_infos", ident(id, "id")))
        return wire.parse_model(answer)

    def update(self, id: str, **fields: Any) -> None:
        """Change any of ``model_name``, ``description``, ``github_link``, ``paper_link``,
        ``private`` (bool), ``tags`` (list of str)."""
        if not fields:
            raise ValidationError(f"update: give at least one of {', '.join(UPDATABLE)}")
        unknown = sorted(set(fields) - set(UPDATABLE))
        if unknown:
            raise ValidationError(
                f"update: unknown field(s) {', '.join(unknown)}; known: {', '.join(UPDATABLE)}"
            )
        body: dict[str, Any] = {}
        for key, value in fields.items():
            if key == "model_name":
                body[key] = text(value, key)
            elif key in _STR_FIELDS:
                body[key] = string(value, key)
            elif key == "private":
                body[key] = flag(value, key)
            else:
                if not isinstance(value, list | tuple) or not all(
                    isinstance(t, str) for t in value
                ):
                    raise ValidationError(f"tags: expected a list of strings, got {value!r}")
                body[key] = list(value)
        self._transport.request("PUT", route("/api/v1/model_infos", ident(id, "id")), json=body)

    def delete(self, id: str) -> None:
        """Delete a model with its experiments, logs and previews."""
        self._transport.request("DELETE", route("/api/v1/delete_model", ident(id, "id")))
