"""Projects: ``/api/v1/create_project``, ``project_list``, ``project_infos``, team, labels,
automations, Q&A, stats, models attached, delete."""

from __future__ import annotations

import builtins
from typing import Any

from picsellia_tf import wire
from picsellia_tf._limits import PROJECT_TYPES
from picsellia_tf.api._base import (
    Endpoints,
    answer_field,
    choice,
    flag,
    ident,
    parse_items,
    route,
    string,
    text,
)
from picsellia_tf.errors import ValidationError
from picsellia_tf.types import Collaborator, Project, ProjectStats, ProjectSummary


class Projects(Endpoints):
    """The projects of the token's organisation."""

    def create(
        self,
        name: str,
        type: str,
        *,
        labels: Any = None,
        team: Any = None,
        description: str = "",
        private: bool = True,
        dataset_name: str | None = None,
    ) -> Project:
        """Create a project (labels, team, dataset at once) and return it in full."""
        body: dict[str, Any] = {
            "project_name": text(name, "name"),
            "type": choice(type, PROJECT_TYPES, "type"),
            "description": string(description, "description"),
            "private": flag(private, "private"),
        }
        if labels is not None:
            body["labels"] = wire.encode_labels(labels, "labels")
        if team is not None:
            body["team"] = wire.encode_collaborators(team, "team")
        if dataset_name is not None:
            body["dataset_name"] = text(dataset_name, "dataset_name")
        answer = self._transport.request("POST", "/api/v1/create_project", json=body)
        return self.get(answer_field(answer, "project_id"))

    def list(self) -> builtins.list[ProjectSummary]:
        """Every project's id and name, in creation order (``get(id)`` has the rest)."""
        answer = self._transport.request("GET", "/api/v1/project_list")
        return parse_items(answer, "project_list", wire.parse_project_summary)

    def get(self, id: str) -> Project:
        """One project in full: dataset, labels, team, models, annotation count, Q&A."""
        answer = self._transport.request("GET", route("/api/v1/project_infos", ident(id, "id")))
        return wire.parse_project(answer)

    def update(self, id: str, *, name: str | None = None, description: str | None = None) -> None:
        """Rename a project and/or change its description."""
        body: dict[str, Any] = {}
        if name is not None:
            body["project_name"] = text(name, "name")
        if description is not None:
            body["description"] = string(description, "description")
        if not body:
            raise ValidationError("update: give name and/or description")
        self._transport.request("PUT", route("/api/v1/project_infos", ident(id, "id")), json=body)

    def collaborators(self, id: str) -> builtins.list[Collaborator]:
        """The project's team (the owner is not listed)."""
        path = route("/api/v1/project_collaborators", ident(id, "id"))
        return parse_items(
            self._transport.request("GET", path), "collaborators", wire.parse_collaborator
        )

    def set_collaborators(self, id: str, collaborators: Any) -> None:
        """Replace the team: ``Collaborator``, ``(email, role)`` or ``{"email", "role"}`` items."""
        body = {"collaborators": wire.encode_collaborators(collaborators, "collaborators")}
        path = route("/api/v1/project_collaborators", ident(id, "id"))
        self._transport.request("PUT", path, json=body)

    def set_labels(self, id: str, labels: Any) -> None:
        """Replace the labels: ``Label``, ``(name, tool)`` or ``{"label_name", "tool"}`` items."""
        body = {"labels": wire.encode_labels(labels, "labels")}
        self._transport.request("PUT", route("/api/v1/project_labels", ident(id, "id")), json=body)

    def set_automations(self, id: str, model_id: str, links: Any) -> None:
        """Link project labels to an attached model's labels for pre-annotation."""
        body = {
            "model_id": ident(model_id, "model_id"),
            "labels": wire.encode_label_links(links, "links"),
        }
        self._transport.request("PUT", route("/api/v1/project_auto", ident(id, "id")), json=body)

    def set_qa(self, id: str, *, image_qa: Any = None, shape_qa: Any = None) -> None:
        """Set the image-level and/or shape-level Questions & Answers (the other is kept)."""
        body: dict[str, Any] = {}
        if image_qa is not None:
            body["image_qa"] = wire.encode_qa(image_qa, "image_qa")
        if shape_qa is not None:
            body["shape_qa"] = wire.encode_qa(shape_qa, "shape_qa")
        if not body:
            raise ValidationError("set_qa: give image_qa and/or shape_qa")
        self._transport.request("PUT", route("/api/v1/project_qa", ident(id, "id")), json=body)

    def stats(self, id: str) -> ProjectStats:
        """Annotation progress and label statistics."""
        answer = self._transport.request("GET", route("/api/v1/project_stats", ident(id, "id")))
        return wire.parse_project_stats(answer)

    def attach_model(self, project_id: str, model_id: str) -> None:
        """Attach a model to a project (attaching it again is harmless)."""
        path = route(
            "/api/v1/attach_model", ident(project_id, "project_id"), ident(model_id, "model_id")
        )
        self._transport.request("POST", path, idempotent=True)

    def detach_model(self, project_id: str, model_id: str) -> None:
        """Detach a model from a project."""
        path = route(
            "/api/v1/delete_project", ident(project_id, "project_id"), ident(model_id, "model_id")
        )
        self._transport.request("PUT", path)

    def delete(self, id: str) -> None:
        """Delete a project and its annotations (experiments stay with their models)."""
        self._transport.request("DELETE", route("/api/v1/delete_project", ident(id, "id")))
