"""Experiment versions: ``/sdk/init_model``, ``delete_experiments``, training logs
(``post_logs``, ``get_logs`` [local extension]) and previews (``get_post_url_preview``,
storage upload, ``post_preview``, ``get_previews`` [local extension])."""

from __future__ import annotations

import builtins
import io
import os
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from picsellia_tf import wire
from picsellia_tf._checks import check_list
from picsellia_tf.api._base import (
    Endpoints,
    answer_count,
    answer_field,
    check_training_id,
    ident,
    parse_items,
    route,
    text,
)
from picsellia_tf.api.models import Models
from picsellia_tf.errors import UnknownProjectError, ValidationError
from picsellia_tf.types import Experiment, Preview

if TYPE_CHECKING:
    from picsellia_tf._http import Transport

LogsDict = dict[str, dict[str, list[Any]]]


class Experiments(Endpoints):
    """Experiment versions of models: start one, stream its logs and previews."""

    def __init__(self, transport: Transport) -> None:
        super().__init__(transport)
        self._models = Models(transport)  # a version's project is read from its model
        self._projects: dict[tuple[str, int], str] = {}
        self._lock = threading.Lock()

    def init(
        self, project_id: str, model_name: str, *, project_token: str | None = None
    ) -> Experiment:
        """Start a new version of ``model_name`` in a project (the model is created if new).

        Sent as the released SDK sent it, ``GET /sdk/init_model`` with a JSON body, once: it
        creates a version, so it is never retried blindly. ``project_token`` (the released
        SDK's name for a project) is sent too when given.
        """
        body = {
            "project_id": ident(project_id, "project_id"),
            "model_name": text(model_name, "model_name"),
        }
        if project_token is not None:
            body["project_token"] = text(project_token, "project_token")
        answer = self._transport.request("GET", "/sdk/init_model", json=body, idempotent=False)
        exp = wire.parse_experiment(
            answer, project_id=body["project_id"], model_name=body["model_name"]
        )
        with self._lock:
            self._projects[(exp.network_id, exp.training_id)] = body["project_id"]
        return exp

    def delete(self, project_id: str, model_id: str, training_id: int) -> None:
        """Delete one experiment version with its logs and previews."""
        path = route(
            "/api/v1/delete_experiments",
            ident(project_id, "project_id"),
            ident(model_id, "model_id"),
            check_training_id(training_id, "training_id"),
        )
        self._transport.request("DELETE", path)

    def post_logs(self, training_id: int, network_id: str, logs: Any) -> int:
        """Send scalar series ``{tag: {"step": [...], "value": [...], "wall_time"?: [...]}}``.

        Points merge by ``(tag, step)`` on the server, so resending is safe (and retried).
        Returns the number of points the server accepted.
        """
        encoded = wire.encode_logs(logs, "logs")
        body = {
            "training_id": check_training_id(training_id),
            "network_id": ident(network_id, "network_id"),
            "logs": encoded,
        }
        # points merge by (tag, step): a resend after a lost answer changes nothing
        answer = self._transport.request("POST", "/sdk/post_logs", json=body, idempotent=True)
        sent = sum(len(series["step"]) for series in encoded.values())
        return answer_count(answer, "points", sent)

    def get_logs(self, training_id: int, network_id: str) -> LogsDict:
        """Every point stored for a version, per tag sorted by step [local extension]."""
        body = {
            "training_id": check_training_id(training_id),
            "network_id": ident(network_id, "network_id"),
        }
        answer = self._transport.request("GET", "/sdk/get_logs", json=body)
        return wire.parse_logs(answer_field(answer, "logs"))

    def upload_preview(
        self,
        training_id: int,
        network_id: str,
        image: Any,
        *,
        project_id: str | None = None,
        name: str | None = None,
    ) -> str:
        """Upload an image (a path, encoded bytes, or a PIL image, sent as PNG) to storage.

        Returns its object name, ``<project_id>/<network_id>/<training_id>/results/<name>``;
        record it with :meth:`post_preview`. The token is not sent to the storage URL.
        Without ``project_id``, it is known if this client started the version, else looked up
        once in ``model_infos`` (the model's ``used_in``); a model used in several projects
        raises :class:`~picsellia_tf.errors.UnknownProjectError` naming them.
        """
        tid = check_training_id(training_id)
        nid = ident(network_id, "network_id")
        data, default_name = _image_bytes(image)
        filename = _file_name(name if name is not None else default_name)
        pid = (
            ident(project_id, "project_id")
            if project_id is not None
            else self._project_of(nid, tid)
        )
        object_name = f"{pid}/{nid}/{tid}/results/{filename}"
        answer = self._transport.request(
            "GET", "/sdk/get_post_url_preview", json={"object_name": object_name}
        )
        url, fields = wire.parse_presigned_post(answer)
        self._transport.storage_post(url, fields, filename, data)
        return object_name

    def post_preview(self, training_id: int, network_id: str, object_names: Any) -> None:
        """Record uploaded images as previews of a version (each name is recorded once)."""
        if isinstance(object_names, str):
            object_names = [object_names]
        items = check_list(object_names, "object_names")
        names = [text(n, f"object_names[{i}]") for i, n in enumerate(items)]
        if not names:
            raise ValidationError("object_names: no object names given")
        body = {
            "training_id": check_training_id(training_id),
            "network_id": ident(network_id, "network_id"),
            "urls": names,
        }
        self._transport.request("POST", "/sdk/post_preview", json=body)

    def previews(self, training_id: int, network_id: str) -> builtins.list[Preview]:
        """The previews of a version, in the order first posted [local extension]."""
        body = {
            "training_id": check_training_id(training_id),
            "network_id": ident(network_id, "network_id"),
        }
        answer = self._transport.request("GET", "/sdk/get_previews", json=body)
        return parse_items(answer_field(answer, "previews"), "previews", wire.parse_preview)

    def _project_of(self, network_id: str, tid: int) -> str:
        """The project of version ``tid``: from ``init`` if this client started it, else from
        ``model_infos``: the version's own project where the platform lists its versions (a
        local extension), else the model's ``used_in`` when it names exactly one project."""
        with self._lock:
            known = self._projects.get((network_id, tid))
        if known is not None:
            return known
        model = self._models.get(network_id)
        versions = {e.training_id: e.project_id for e in model.experiments}
        if versions and tid not in versions:
            raise ValidationError(
                f"training_id: model {network_id} has no experiment version {tid}; pass project_id"
            )
        project = versions.get(tid)
        if project is None:
            projects = list({p.id: p for p in model.used_in}.values())
            if len(projects) != 1:
                named = ", ".join(f"{p.name!r} ({p.id})" for p in projects)
                where = f"in {len(projects)} projects: {named}" if projects else "in no project"
                raise UnknownProjectError(
                    f"training_id: cannot tell the project of version {tid} of model "
                    f"{model.name!r} ({network_id}): the platform says the model is used "
                    f"{where}; pass project_id"
                )
            project = projects[0].id
        with self._lock:
            self._projects[(network_id, tid)] = project
        return project


_PNG = b"\x89PNG\r\n\x1a\n"


def _image_bytes(image: Any) -> tuple[bytes, str]:
    """The bytes to upload and a default file name."""
    stamp = uuid.uuid4().hex[:12]
    if isinstance(image, str | os.PathLike):
        path = Path(image)
        if not path.is_file():
            raise ValidationError(f"image: {str(path)!r} is not a file")
        return path.read_bytes(), path.name
    if isinstance(image, bytes | bytearray | memoryview):
        data = bytes(image)
        if not data:
            raise ValidationError("image: empty bytes")
        ext = ".png" if data.startswith(_PNG) else ".jpg" if data[:3] == b"\xff\xd8\xff" else ".bin"
        return data, f"preview-{stamp}{ext}"
    if hasattr(image, "save") and hasattr(image, "mode"):  # a PIL image; PIL loaded only if used
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        return buf.getvalue(), f"preview-{stamp}.png"
    raise ValidationError(
        f"image: expected a file path, encoded image bytes or a PIL image, got "
        f"{type(image).__name__}"
    )


def _file_name(name: Any) -> str:
    name = text(name, "name")
    if "/" in name or "\\" in name or name in (".", ".."):
        raise ValidationError(f"name: {name!r} must be a plain file name, without '/'")
    return name
