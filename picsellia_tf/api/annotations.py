"""Annotations: ``GET /api/v1/annotations/:project_id`` by range, ``POST /sdk/upload_annotations``."""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from typing import Any

from picsellia_tf import wire
from picsellia_tf.api._base import (
    Endpoints,
    answer_count,
    check_concurrency,
    check_page_size,
    ident,
    pages_concurrently,
    route,
)
from picsellia_tf.errors import APIError, ValidationError
from picsellia_tf.types import ImageAnnotation

FORMATS = ("picsellia", "other")


class Annotations(Endpoints):
    """The annotations of a project, one :class:`ImageAnnotation` per annotated image."""

    def list(self, project_id: str, start: int, stop: int) -> builtins.list[ImageAnnotation]:
        """Annotated images ``start`` to ``stop - 1``, in the order first uploaded."""
        path = route("/api/v1/annotations", ident(project_id, "project_id"))
        return self._ranged(path, start, stop, wire.parse_image_annotation, "annotations")

    def iter(
        self,
        project_id: str,
        page_size: int = 100,
        *,
        concurrency: int = 1,
        total: int | None = None,
    ) -> Iterator[ImageAnnotation]:
        """Every annotated image of a project, fetched ``page_size`` at a time, up to
        ``concurrency`` pages at once (in order all the same), at most ``total`` when known.
        Raises :class:`WireError` if the server repeats a page instead of honouring the
        range."""
        size = check_page_size(page_size)
        ahead = check_concurrency(concurrency)
        path = route("/api/v1/annotations", ident(project_id, "project_id"))
        return pages_concurrently(
            lambda start, stop: self.list(project_id, start, stop),
            size,
            ahead,
            total,
            route=f"GET {path}",
        )

    def upload(self, project_id: str, annotations: Any, format: str = "picsellia") -> int:
        """Upload image annotations (``ImageAnnotation`` or wire-shaped dicts); returns how
        many images were stored. An image's new annotation replaces its previous one."""
        if format not in FORMATS:
            raise ValidationError(f"format: {format!r} is not one of {', '.join(FORMATS)}")
        items = wire.encode_image_annotations(annotations, "annotations")
        if not items:
            raise ValidationError("annotations: nothing to upload")
        body = {
            "project_id": ident(project_id, "project_id"),
            "format": format,
            "annotations": items,
        }
        try:
            answer = self._transport.request("POST", "/sdk/upload_annotations", json=body)
        except APIError as exc:  # the server names the wire's keys, which start at '1'
            raise exc.with_message(wire.callers_index(exc.message, "annotations")) from None
        return answer_count(answer, "count", len(items))
