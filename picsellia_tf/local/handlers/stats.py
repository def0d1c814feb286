"""``project_stats``: figures computed from the stored annotations."""

from __future__ import annotations

import statistics
from typing import Any

from picsellia_tf.local.app import Ctx, Route
from picsellia_tf.local.handlers.common import dataset_size
from picsellia_tf.local.store import loads


def project_stats(ctx: Ctx, project_id: str) -> dict[str, Any]:
    """Label counts, time spent and progress of a project's annotation."""
    project = ctx.owned("projects", project_id)
    labels = [label["label_name"] for label in loads(project["labels"])]
    rows = ctx.db.execute(
        "SELECT time_spent, shapes FROM annotations WHERE project_id = ? ORDER BY n",
        (project_id,),
    ).fetchall()
    per_label = dict.fromkeys(labels, 0.0)
    times, assets = [], []
    for row in rows:
        shapes = loads(row["shapes"])
        times.append(row["time_spent"])
        assets.append(float(len(shapes)))
        for shape in shapes:
            if shape["label"] in per_label:
                per_label[shape["label"]] += 1
    annotated = len(rows)
    size = dataset_size(ctx.db, project["dataset_id"])
    remaining = max(size - annotated, 0)
    total_time = float(sum(times))
    average_time = total_time / annotated if annotated else 0.0
    counts = [per_label[label] for label in labels]
    return {
        "labels": labels,
        "labels_per_classe": counts,
        "label_variance": statistics.pvariance(counts) if counts else 0.0,
        "time_per_image": times,
        "assets_per_image": assets,
        "nb_images_annotated": annotated,
        "images_remaining": remaining,
        "total_labels_submitted": int(sum(assets)),
        "average_time_by_image": average_time,
        "mean_assets_per_images": sum(assets) / annotated if annotated else 0.0,
        "total_time_spent": total_time,
        "predicted_time": remaining * average_time,
        "percentage_advancement": round(100 * annotated / size) if size else 0,
    }


ROUTES = [Route("GET", "/api/v1/project_stats/<project_id>", project_stats)]
