"""The dataset page: a project's images in a grid with their annotations drawn over them."""

from __future__ import annotations

from typing import Any

from picsellia_tf._colors import hex_color, label_color
from picsellia_tf.local import queries as q
from picsellia_tf.local.app import Ctx
from picsellia_tf.local.dashboard import queries
from picsellia_tf.local.dashboard.html import Html, h, join, page, path, swatch, table
from picsellia_tf.local.dashboard.pages import crumbs
from picsellia_tf.local.dashboard.web import PageError, dashboard_page
from picsellia_tf.local.store import User, loads

PER_PAGE = 48
_HAS_LABEL = (
    "EXISTS (SELECT 1 FROM json_each(a.shapes) j WHERE json_extract(j.value, '$.label') = ?)"
)


def label_counts(db: Any, project_id: str) -> dict[str, tuple[int, int]]:
    """Per label: (shapes, images holding one) among the project's annotations."""
    rows = db.execute(
        "SELECT json_extract(j.value, '$.label'), COUNT(*), COUNT(DISTINCT a.raw_id) "
        "FROM annotations a, json_each(a.shapes) j WHERE a.project_id = ? GROUP BY 1",
        (project_id,),
    ).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def _page_arg(value: str | None) -> int:
    if value is None:
        return 1
    if not value.isdigit() or int(value) < 1:
        raise PageError(400, f"page must be a whole number >= 1, got {value!r}")
    return int(value)


def _shape_svg(shape: dict[str, Any], color: str, size: float) -> Html:
    """One shape in image pixel coordinates, with its label name."""
    label, kind = shape["label"], shape["type"]
    common = h('data-label="{}" stroke="{}" class="shape {}"', label, color, kind)
    if kind == "rectangle":
        r = shape["rectangle"]
        x, y = r["left"], r["top"]
        drawn = h(
            '<rect x="{}" y="{}" width="{}" height="{}" fill="none" {}/>',
            x,
            y,
            r["width"],
            r["height"],
            common,
        )
    else:
        pts = shape["polygon"]["geometry"]
        x, y = pts[0]["x"], min(p["y"] for p in pts)
        coords = " ".join(f"{p['x']},{p['y']}" for p in pts)
        if kind == "polygon":
            drawn = h(
                '<polygon points="{}" fill="{}" fill-opacity="0.25" {}/>', coords, color, common
            )
        elif kind == "line":
            drawn = h('<polyline points="{}" fill="none" {}/>', coords, common)
        else:
            drawn = join(
                h(
                    '<circle cx="{}" cy="{}" r="{}" fill="{}" {}/>',
                    p["x"],
                    p["y"],
                    size / 4,
                    color,
                    common,
                )
                for p in pts
            )
    tag = h(
        '<text x="{}" y="{}" font-size="{}" fill="{}" class="tag">{}</text>',
        x,
        max(y - size * 0.25, size),
        size,
        color,
        label,
    )
    return join([drawn, tag])


def _figure(ctx: Ctx, row: Any, colors: dict[str, str]) -> Html:
    url = ctx.storage.get_url("", row["object_name"])
    shapes = loads(row["shapes"]) or []
    names = sorted({s["label"] for s in shapes})
    chips = join(
        h('<span class="chip">{}{}</span>', swatch(colors.get(n, "#888")), n) for n in names
    )
    if row["width"] is None:
        frame = h('<a href="{}" class="file">{}</a>', url, row["filename"])
    else:
        w, ht = row["width"], row["height"]
        size = max(w, ht) / 14  # about 1/14 of the shown image, whatever its size
        drawn = join(_shape_svg(s, colors.get(s["label"], "#888888"), size) for s in shapes)
        frame = h(
            '<a href="{url}" class="frame"><img src="{url}" width="{w}" height="{h}" alt="{alt}" '
            'loading="lazy"><svg class="shapes" viewBox="0 0 {w} {h}" preserveAspectRatio="none" '
            'stroke-width="2">{drawn}</svg></a>',
            url=url,
            w=w,
            h=ht,
            alt=row["filename"],
            drawn=drawn,
        )
    return h(
        '<figure class="sample" data-raw="{}" data-width="{}" data-height="{}">{}'
        '<figcaption><span class="file">{}</span> {}</figcaption></figure>',
        row["id"],
        row["width"] or "",
        row["height"] or "",
        frame,
        row["filename"],
        chips,
    )


@dashboard_page
def dataset_page(ctx: Ctx, user: User, project_id: str) -> Html:
    """The project's dataset, a page of images at a time, optionally one label's."""
    project = queries.project(ctx.db, user.org_id, project_id)
    nav = crumbs((project["name"], path("projects", project_id)))
    title = f"Dataset of {project['name']}"
    if project["dataset_id"] is None:
        return page(title, h("<p>This project has no dataset.</p>"), user=user.email, crumbs=nav)
    names = q.projects.label_names(project)
    colors = {n: hex_color(label_color(i)) for i, n in enumerate(names)}
    label = ctx.request.args.get("label") or None
    if label is not None and label not in colors:
        raise PageError(404, f"label {label!r} is not a label of this project")
    number = _page_arg(ctx.request.args.get("page"))
    where = "r.dataset_id = ?" + (f" AND {_HAS_LABEL}" if label else "")
    args: tuple[Any, ...] = (project_id, project["dataset_id"]) + ((label,) if label else ())
    join_sql = (
        "FROM raw_data r LEFT JOIN annotations a ON a.raw_id = r.id AND a.project_id = ? "
        f"WHERE {where}"
    )
    total = ctx.db.execute(f"SELECT COUNT(*) {join_sql}", args).fetchone()[0]
    pages = max(1, -(-total // PER_PAGE))
    if number > pages:
        raise PageError(404, f"page {number} is past the last page ({pages})")
    rows = ctx.db.execute(
        f"SELECT r.id, r.filename, r.object_name, r.width, r.height, a.shapes {join_sql} "
        "ORDER BY r.n LIMIT ? OFFSET ?",
        args + (PER_PAGE, (number - 1) * PER_PAGE),
    ).fetchall()
    counts = label_counts(ctx.db, project_id)

    def link(text: str, target_page: int, target_label: str | None, rel: str = "") -> Html:
        url = path(
            "projects",
            project_id,
            "dataset",
            label=target_label,
            page=target_page if target_page > 1 else None,
        )
        return h('<a href="{}" rel="{}">{}</a>', url, rel, text)

    count_rows = [
        [h("{}{}", swatch(colors[n]), link(n, 1, n)), *counts.get(n, (0, 0))] for n in names
    ]
    options = join(
        h('<option value="{}"{}>{}</option>', n, Html(" selected") if n == label else "", n)
        for n in names
    )
    filter_form = h(
        '<form method="get" action="{}" class="filter"><label>Label <select name="label">'
        '<option value="">all labels</option>{}</select></label> '
        '<button type="submit">Filter</button></form>',
        path("projects", project_id, "dataset"),
        options,
    )
    shown = f"{label!r} images" if label else "images"
    pager = h(
        '<nav class="pager">{} <span>page {} of {} · {} {}</span> {}</nav>',
        link("‹ previous", number - 1, label, "prev") if number > 1 else "",
        number,
        pages,
        f"{total:,}",
        shown,
        link("next ›", number + 1, label, "next") if number < pages else "",
    )
    grid = h('<div class="grid">{}</div>', join(_figure(ctx, r, colors) for r in rows))
    body = join(
        [
            h(
                '<div class="dataset-head">{}{}</div>',
                filter_form,
                table(["Label", "Shapes", "Images"], count_rows, "counts"),
            ),
            pager,
            grid,
            pager,
        ]
    )
    return page(title, body, user=user.email, crumbs=nav)
