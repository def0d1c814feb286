"""The dashboard's pages: projects, a project's versions, a version's curves, previews, compare."""

from __future__ import annotations

import re
from typing import Any

from picsellia_tf._colors import hex_color, label_color
from picsellia_tf.local import answers
from picsellia_tf.local import queries as q
from picsellia_tf.local.app import Ctx
from picsellia_tf.local.dashboard import queries, series
from picsellia_tf.local.dashboard.html import (
    Html,
    h,
    join,
    number,
    page,
    path,
    swatch,
    table,
    when,
)
from picsellia_tf.local.dashboard.web import PageError, dashboard_page
from picsellia_tf.local.store import User

_PREVIEW = re.compile(r"epoch_(\d+)_(\d+)\.[A-Za-z]+")


def crumbs(*links: tuple[str, str]) -> Html:
    """Breadcrumb links after "Projects"."""
    items = [h('<a href="/">Projects</a>')] + [h('<a href="{}">{}</a>', u, t) for t, u in links]
    return join(items, " / ")


def label_chips(names: list[str]) -> Html:
    """Label names with their colour swatches."""
    return join(
        h('<span class="chip">{}{}</span>', swatch(hex_color(label_color(i))), name)
        for i, name in enumerate(names)
    )


@dashboard_page
def projects_page(ctx: Ctx, user: User) -> Html:
    """``/``: every project of the organisation."""
    rows = []
    for item in queries.projects(ctx.db, user.org_id):
        row = item["row"]
        dataset: Any = "-"
        if row["dataset_id"] is not None:
            dataset = h(
                '<a href="{}">{}</a> ({} images)',
                path("projects", row["id"], "dataset"),
                row["dataset_name"],
                row["size"],
            )
        pct = answers.progress(row["annotated"], row["size"])
        rows.append(
            [
                h('<a href="{}" class="project">{}</a>', path("projects", row["id"]), row["name"]),
                row["type"],
                label_chips(item["labels"]),
                dataset,
                ", ".join(item["models"]) or "-",
                h('<progress max="100" value="{0}">{0} %</progress> {0} %', pct),
            ]
        )
    if rows:
        body = table(["Project", "Type", "Labels", "Dataset", "Models", "Annotated"], rows)
    else:
        body = h("<p>No project yet: run an example, or create one with the client.</p>")
    return page(f"Projects of {user.org_name}", body, user=user.email)


@dashboard_page
def project_page(ctx: Ctx, user: User, project_id: str) -> Html:
    """A project: its experiment versions with their last epoch metrics, and a compare form."""
    row = queries.project(ctx.db, user.org_id, project_id)
    found = queries.versions(ctx.db, project_id)
    lasts = [
        {i.tag: (i.last_step, i.last_value) for i in series.tag_infos(ctx.db, item["version"].n)}
        for item in found
    ]
    metrics = sorted({tag for last in lasts for tag in last if "/" not in tag})
    rows = []
    for item, last in zip(found, lasts, strict=True):
        v: queries.Version = item["version"]
        link = path("versions", v.model_id, v.training_id)
        rows.append(
            [
                h(
                    '<input type="checkbox" name="v" value="{}" aria-label="compare {}">',
                    v.ref,
                    v.label,
                ),
                h('<a href="{}">{}</a>', link, v.model_name),
                h('<a href="{}">v{}</a>', link, v.training_id),
                when(v.created),
                when(item["updated"]),
                f"{item['points']:,}",
                *(number(last[t][1]) if t in last else "-" for t in metrics),
                h(
                    '<a href="{}">previews</a>',
                    path("versions", v.model_id, v.training_id, "previews"),
                ),
            ]
        )
    parts = [
        h("<p>{} project · labels {}</p>", row["type"], label_chips(q.projects.label_names(row))),
    ]
    if row["dataset_id"] is not None:
        parts.append(
            h(
                '<p><a href="{}">Dataset images and annotations</a></p>',
                path("projects", project_id, "dataset"),
            )
        )
    if rows:
        head = ["", "Model", "Version", "Started", "Last update", "Points", *metrics, ""]
        parts.append(
            h(
                '<h2>Experiment versions</h2><form method="get" action="/compare">{}'
                '<p><button type="submit">Compare the selected versions</button></p></form>',
                table(head, rows, "versions"),
            )
        )
    else:
        parts.append(h("<p>No experiment version yet: train with PicselliaCallback.</p>"))
    return page(row["name"], join(parts), user=user.email, crumbs=crumbs())


def chart_area(refs: list[str]) -> Html:
    """The controls and the (script-drawn) charts of one or more versions."""
    return h(
        '<div class="controls js-only" id="controls">'
        "<fieldset><legend>x axis</legend>"
        '<label><input type="radio" name="x" value="step" checked> step</label> '
        '<label><input type="radio" name="x" value="wall"> wall time</label></fieldset>'
        '<label><input type="checkbox" name="log"> log scale</label>'
        '<label>smoothing <input type="range" name="smooth" min="0" max="0.99" step="0.01" '
        'value="0"> <output name="smooth-value">0</output></label>'
        '<span class="live" id="live" aria-live="polite"></span></div>'
        '<div id="charts" class="charts" data-series-url="{series}" data-stamp-url="{stamp}"></div>'
        "<noscript><p>The charts need JavaScript; the table below lists what is stored.</p>"
        "</noscript>",
        series=path("ui", "series", v=refs),
        stamp=path("ui", "stamp", v=refs),
    )


@dashboard_page
def version_page(ctx: Ctx, user: User, model_id: str, training_id: int) -> Html:
    """A version's curves (one chart per metric family) and a table of its stored tags."""
    v = queries.version(ctx.db, user.org_id, model_id, training_id)
    infos = series.tag_infos(ctx.db, v.n)
    rows = [[i.tag, f"{i.first_step} - {i.last_step}", number(i.last_value)] for i in infos]
    links = h(
        '<p>Project <a href="{}">{}</a> · started {} · {} tags · '
        '<a href="{}">previews</a> · <a href="{}">compare with other versions</a></p>',
        path("projects", v.project_id),
        v.project_name,
        when(v.created),
        len(infos),
        path("versions", v.model_id, v.training_id, "previews"),
        path("compare", v=v.ref),
    )
    stored = (
        h(
            "<details><summary>Stored tags</summary>{}</details>",
            table(["Tag", "Steps", "Last value"], rows, "tags"),
        )
        if rows
        else h("<p>No points yet.</p>")
    )
    body = join([links, chart_area([v.ref]), stored])
    return page(
        v.label,
        body,
        user=user.email,
        scripts=("charts.js",),
        crumbs=crumbs((v.project_name, path("projects", v.project_id))),
    )


def preview_epochs(names: list[str]) -> dict[int | None, list[str]]:
    """Preview object names by epoch (``None`` for names not of the callback's form)."""
    epochs: dict[int | None, list[str]] = {}
    for name in names:
        match = _PREVIEW.fullmatch(name.rpartition("/")[2])
        epochs.setdefault(int(match.group(1)) if match else None, []).append(name)
    return epochs


def _epoch_arg(value: str | None, epochs: list[int]) -> int:
    """The asked epoch, or the nearest one with previews (the last one if none is asked)."""
    if value is None:
        return epochs[-1]
    try:
        epoch = int(value)
    except ValueError:
        raise PageError(400, f"epoch must be a whole number, got {value!r}") from None
    return min(epochs, key=lambda e: (abs(e - epoch), e))


@dashboard_page
def previews_page(ctx: Ctx, user: User, model_id: str, training_id: int) -> Html:
    """One epoch's previews at a time, with links (and a slider) to the others."""
    v = queries.version(ctx.db, user.org_id, model_id, training_id)
    by_epoch = preview_epochs(q.experiments.previews(ctx.db, v.n))
    epochs = sorted(e for e in by_epoch if e is not None)
    here = path("versions", v.model_id, v.training_id, "previews")
    nav_crumbs = crumbs(
        (v.project_name, path("projects", v.project_id)),
        (v.label, path("versions", v.model_id, v.training_id)),
    )
    if not by_epoch:
        body = h("<p>No previews yet: give PicselliaCallback <code>preview_data</code>.</p>")
        return page(f"Previews of {v.label}", body, user=user.email, crumbs=nav_crumbs)
    parts = []
    if epochs:
        epoch = _epoch_arg(ctx.request.args.get("epoch"), epochs)
        i = epochs.index(epoch)

        def step(label: str, rel: str, target: int | None) -> Html:
            if target is None:
                return h('<span class="disabled" data-rel="{}">{}</span>', rel, label)
            return h(
                '<a href="{}" rel="{}" data-rel="{}">{}</a>',
                path("versions", v.model_id, v.training_id, "previews", epoch=target),
                rel if rel in ("prev", "next") else "",
                rel,
                label,
            )

        nav = h(
            '<nav class="epochs" id="epochs">{first} {prev} '
            '<form method="get" action="{here}" class="epoch-form">'
            '<label>epoch <input type="range" name="epoch" min="{lo}" max="{hi}" step="1" '
            'value="{epoch}" list="epoch-list"></label> <output>{epoch}</output> '
            '<button type="submit" class="nojs">Go</button></form> {next} {last}'
            '<span class="count">epoch {epoch} · {pos} of {n}</span></nav>',
            first=step("« first", "first", epochs[0] if i > 0 else None),
            prev=step("‹ previous", "prev", epochs[i - 1] if i > 0 else None),
            next=step("next ›", "next", epochs[i + 1] if i + 1 < len(epochs) else None),
            last=step("last »", "last", epochs[-1] if i + 1 < len(epochs) else None),
            here=here,
            lo=epochs[0],
            hi=epochs[-1],
            epoch=epoch,
            pos=i + 1,
            n=len(epochs),
        )
        parts.append(nav)
        parts.append(_images(ctx, by_epoch[epoch], epoch))
    if None in by_epoch:
        parts.append(h("<h2>Other previews</h2>{}", _images(ctx, by_epoch[None], None)))
    return page(
        f"Previews of {v.label}",
        join(parts),
        user=user.email,
        crumbs=nav_crumbs,
        scripts=("previews.js",),
    )


def _images(ctx: Ctx, names: list[str], epoch: int | None) -> Html:
    items = []
    for name in names:
        url = ctx.storage.get_url("", name)
        file = name.rpartition("/")[2]
        items.append(
            h(
                '<figure><a href="{url}"><img src="{url}" alt="{file}" data-epoch="{epoch}" '
                'loading="lazy"></a><figcaption>{file}</figcaption></figure>',
                url=url,
                file=file,
                epoch="" if epoch is None else epoch,
            )
        )
    return h('<div class="previews">{}</div>', join(items))


@dashboard_page
def compare_page(ctx: Ctx, user: User) -> Html:
    """Curves of two or more versions overlaid, and a form to pick them."""
    refs = ctx.request.args.getlist("v")
    chosen = [queries.version(ctx.db, user.org_id, *split_ref(ref)) for ref in refs]
    every = ctx.db.execute(
        queries.VERSION_SELECT + "WHERE m.org_id = ? ORDER BY p.name, m.name, e.training_id",
        (user.org_id,),
    ).fetchall()
    picked = {v.ref for v in chosen}
    boxes = join(
        h(
            '<label><input type="checkbox" name="v" value="{ref}"{checked}> {project} · {model} '
            "v{tid}</label>",
            ref=f"{r['model_id']}:{r['training_id']}",
            checked=Html(" checked") if f"{r['model_id']}:{r['training_id']}" in picked else "",
            project=r["project_name"],
            model=r["model_name"],
            tid=r["training_id"],
        )
        for r in every
    )
    form = h(
        '<form method="get" action="/compare" class="picker"><fieldset><legend>Versions'
        '</legend>{}</fieldset><button type="submit">Compare</button></form>',
        boxes,
    )
    if not chosen:
        return page(
            "Compare versions",
            join([h("<p>Pick versions to overlay.</p>"), form]),
            user=user.email,
            crumbs=crumbs(),
        )
    names = join(h("<li>{}</li>", f"{v.project_name} · {v.label}") for v in chosen)
    body = join(
        [h('<ul class="compared">{}</ul>', names), chart_area([v.ref for v in chosen]), form]
    )
    return page("Compare versions", body, user=user.email, crumbs=crumbs(), scripts=("charts.js",))


def split_ref(ref: str) -> tuple[str, int]:
    model_id, _, training_id = ref.rpartition(":")
    if not model_id or not training_id.isdigit():
        raise PageError(400, f"version {ref!r} is not of the form <model id>:<training id>")
    return model_id, int(training_id)
