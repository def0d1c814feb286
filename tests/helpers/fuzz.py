"""The strategies of test_local_fuzz.py: hostile requests aimed at each route of the local
platform (no tests here). Hypothesis is imported with this module, which the fuzz test imports
as it starts: collecting the suite (every worker collects every file) does not import it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

from picsellia_tf.local.app import Route
from tests.helpers.local import multipart, png

CONTROL = "".join(chr(c) for c in (*range(0x20), 0x7F, 0x85, 0x9F))
NASTY_TEXT = st.one_of(
    st.text(max_size=20),
    st.text(alphabet=st.sampled_from(CONTROL + "\ud800\udfff/\\.%é€😀 "), max_size=12),
    st.sampled_from(["", " ", ".", "..", "../../etc/passwd", "a/b", "x" * 300, "é" * 200,
                     "\ud800", "9" * 20, "-1", "0", "NaN", "null", "results"]),
)  # fmt: skip
NASTY_INT = st.one_of(
    st.integers(),
    st.integers(min_value=2**62, max_value=2**70),
    st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 10**19, 10**400, -1, 0]),
)
SCALARS = st.one_of(
    st.none(), st.booleans(), NASTY_INT, st.floats(allow_nan=True, allow_infinity=True),
    NASTY_TEXT,
)  # fmt: skip


JSON_KIND = st.integers(0, 5)  # 0-3: a scalar, 4: a list, 5: an object
SIZE = st.integers(0, 4)
MAX_LEAVES = 6


def json_value(draw: st.DrawFn, leaves: list[int] | None = None) -> Any:
    """A JSON-like value: a scalar, or lists and objects nested around at most ``MAX_LEAVES``
    scalars in all (as ``st.recursive(SCALARS, ..., max_leaves=6)`` would give), drawn by plain
    calls: no strategy layer per level, a few draws per value."""
    if leaves is None:
        leaves = [MAX_LEAVES]
    kind = draw(JSON_KIND) if leaves[0] > 1 else 0
    if kind < 4:
        leaves[0] -= 1
        return draw(SCALARS)
    items = []
    for _ in range(draw(SIZE)):
        if leaves[0] <= 0:
            break
        items.append(json_value(draw, leaves))
    if kind == 4:
        return items
    return {draw(KEYS): item for item in items}


FIELDS = ["training_id", "network_id", "logs", "step", "value", "wall_time", "range",
          "project_id", "model_name", "project_token", "object_name", "urls", "dataset_name",
          "project_name", "description", "type", "labels", "label_name", "tool", "team",
          "collaborators", "email", "role", "image_qa", "shape_qa", "question", "values", "min",
          "max", "model_id", "link_with", "tags", "private", "github_link", "raw_id", "filename",
          "format", "annotations", "internal_picture_id", "external_picture_url", "QandA",
          "time_spent", "rectangle", "polygon", "geometry", "left", "top", "width", "height",
          "x", "y", "label", "1", "0", "-1", "10"]  # fmt: skip
KEYS = st.one_of(st.sampled_from(FIELDS), NASTY_TEXT)


def templates(ids: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A valid body per route, to mutate."""
    ref = {"training_id": ids["training_id"], "network_id": ids["network_id"]}
    shape = {"type": "rectangle", "label": "car",
             "rectangle": {"left": 1, "top": 1, "width": 2, "height": 2}}  # fmt: skip
    return {
        "/api/v1/create_project": {"project_name": "n", "type": "detection",
                                   "labels": {"1": {"label_name": "a", "tool": "point"}},
                                   "team": {"1": {"email": "a@b", "role": "labeler"}}},
        "/api/v1/project_infos/<project_id>": {"project_name": "m", "description": "d"},
        "/api/v1/project_collaborators/<project_id>": {
            "collaborators": {"1": {"email": "a@b", "role": "admin"}}},
        "/api/v1/project_labels/<project_id>": {
            "labels": {"1": {"label_name": "car", "tool": "rectangle"}}},
        "/api/v1/project_auto/<project_id>": {
            "model_id": ids["model_id"], "labels": {"1": {"label_name": "car", "link_with": "x"}}},
        "/api/v1/project_qa/<project_id>": {
            "image_qa": {"1": {"question": "q", "type": "range", "min": 0, "max": 1}},
            "shape_qa": {"1": {"question": "q", "type": "choice", "values": ["a"]}}},
        "/api/v1/model_infos/<model_id>": {"model_name": "mm", "tags": ["t"], "private": False},
        "/sdk/init_model": {"project_id": ids["project_id"], "model_name": "w"},
        "/sdk/post_logs": {**ref, "logs": {"loss": {"step": [1, 2], "value": [0.5, 0.25],
                                                    "wall_time": [1.0, 2.0]}}},
        "/sdk/get_logs": ref,
        "/sdk/get_post_url_preview": {"object_name": ids["object_name"]},
        "/sdk/post_preview": {**ref, "urls": [ids["object_name"]]},
        "/sdk/get_previews": ref,
        "/api/v1/annotations/<project_id>": {"range": [0, 10]},
        "/sdk/upload_annotations": {"project_id": ids["project_id"], "format": "picsellia",
                                    "annotations": {"1": {"external_picture_url": "a.png",
                                                          "QandA": {"q": "a"},
                                                          "annotations": [shape]}}},
        "/api/v1/create_dataset": {"dataset_name": "dd", "description": "d"},
        "/api/v1/dataset_info/<dataset_id>": {"dataset_name": "de"},
        "/api/v1/raw_data/<dataset_id>": {"range": [0, 10], "raw_id": ids["raw_id"]},
        "/api/v1/dataset/<dataset_id>": {"filename": "a.png"},
    }  # fmt: skip


DIGIT = st.integers(0, 9)
ONE_IN_4 = st.integers(0, 3)
ONE_IN_5 = st.integers(0, 4)
ONE_IN_6 = st.integers(0, 5)
ONE_IN_20 = st.integers(0, 19)
BOOLEANS = st.booleans()
BYTES = st.binary(max_size=64)
BYTES_200 = st.binary(max_size=200)


def mutate(draw: st.DrawFn, template: Any, depth: int = 0) -> Any:
    """``template`` with some of its values replaced, dropped or added to (drawn with ``draw``,
    recursing as a plain call: no strategy is built per value)."""
    choice = draw(DIGIT)
    if choice == 0 or depth > 4:
        return json_value(draw)
    if isinstance(template, dict):
        out = {}
        for key, value in template.items():
            action = draw(DIGIT)
            if action == 0:
                continue  # dropped
            out[key] = mutate(draw, value, depth + 1) if action < 4 else value
        if draw(ONE_IN_5) == 0:
            out[draw(KEYS)] = json_value(draw)
        return out
    if isinstance(template, list):
        items = [mutate(draw, item, depth + 1) for item in template]
        if draw(BOOLEANS):
            items.append(json_value(draw))
        return items
    return template if choice < 6 else draw(SCALARS)


RAW_BODIES = st.one_of(
    st.binary(max_size=64),
    st.sampled_from([
        b"[" * 100_000, b'{"a": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
        b'{"range": [0, ' + b"9" * 5000 + b"]}", b'{"x": 1e999}', b'{"x": NaN}',
        b'{"project_id": "\\ud800"}', b'{"\\udfff": 1}', b"\xff\xfe{}", b"null", b"[]",
        b'"text"', b"{}", b"", b" ",
    ]),
)  # fmt: skip
"""Bodies that are not a JSON object, or barely are."""


def path_args(ids: dict[str, Any]) -> st.SearchStrategy[str]:
    valid = [str(ids[k]) for k in ("project_id", "dataset_id", "model_id", "raw_id",
                                   "training_id")] + ["a.png"]  # fmt: skip
    return st.one_of(st.sampled_from(valid), NASTY_TEXT, NASTY_INT.map(str))


ARG = re.compile(r"<([^>]+)>")


@dataclass(frozen=True)
class PathArgs:
    """What a path's arguments are drawn from: an ``object_name`` (half the time) from
    ``object_names``, a ``training_id`` (half the time) from ``training_ids``, any other from
    ``other`` (:func:`path_args`)."""

    object_names: st.SearchStrategy[str]
    training_ids: st.SearchStrategy[Any]
    other: st.SearchStrategy[str]


def fill(rule: str, draw: st.DrawFn, args: PathArgs) -> str:
    """The rule's path with every ``<arg>`` drawn (from ``args.other`` but for a few names),
    percent-encoded as a client would."""

    def one(match: re.Match[str]) -> str:
        name = match[1].split(":")[-1]
        if name == "object_name" and draw(BOOLEANS):
            value = draw(args.object_names)
        elif name == "training_id" and draw(BOOLEANS):
            value = str(draw(args.training_ids))
        else:
            value = draw(args.other)
        return quote(value.encode("utf-8", "surrogatepass"), safe="/" if ":" in match[1] else "")

    return ARG.sub(one, rule)


Request = tuple[str, str, dict[str, Any]]

AUTHORIZATIONS = st.sampled_from(["", "Bearer", "Bearer x y", "Basic a"])
FILE_NAMES = st.lists(st.one_of(NASTY_TEXT, st.just("ok.png")), min_size=0, max_size=3)


def requests_for(
    route: Route, ids: dict[str, Any], args: st.SearchStrategy[str]
) -> st.SearchStrategy[Request]:
    """Hostile requests aimed at ``route``: (method, path, call keywords); ``args``: the path
    arguments (:func:`path_args`). The strategies each draw uses are built here, once."""
    methods = st.sampled_from([route.method] * 8 + ["GET", "POST", "PUT", "DELETE"])
    queries = st.sampled_from(
        [
            ids["raw_url"].split("?", 1)[1],
            "expires=1&signature=x",
            f"expires={'9' * 30}&signature=",
            "expires=x",
            "",
        ]
    )
    template = templates(ids).get(route.rule)
    tiny_png = png(2, 2)  # an empty file's stand-in
    path_args = PathArgs(
        st.sampled_from([ids["raw_url"].split("/storage/", 1)[1].split("?")[0],
                         ids["object_name"]]),
        st.sampled_from([ids["training_id"], 2**63, 10**19, 0]),
        args,
    )  # fmt: skip

    @st.composite
    def one_request(draw: st.DrawFn) -> Request:
        method = draw(methods)
        path = fill(route.rule, draw, path_args)
        headers: dict[str, str] = {}
        if draw(ONE_IN_20) == 0:
            headers["Authorization"] = draw(AUTHORIZATIONS)
        if route.rule.startswith("/storage/") and route.method == "GET":
            return method, f"{path}?{draw(queries)}", {"headers": headers}
        if (
            route.rule in ("/storage/upload", "/api/v1/raw_data/<dataset_id>")
            and route.method == "POST"
        ):
            names = draw(FILE_NAMES)
            files = [(name, draw(BYTES) or tiny_png) for name in names]
            field = "file" if route.rule == "/storage/upload" else "files"
            body, content_type = multipart(files, field=field)
            if route.rule == "/storage/upload":
                fields = dict(ids["form"])
                for key in list(fields):
                    if draw(ONE_IN_4) == 0:
                        fields[key] = draw(NASTY_TEXT)
                prefix = b"".join(
                    f'--picsellia-test-boundary\r\nContent-Disposition: form-data; name="{key}"'
                    f"\r\n\r\n".encode()
                    + value.encode("utf-8", "surrogatepass")
                    + b"\r\n"
                    for key, value in fields.items()
                )
                body = prefix + body
            if draw(DIGIT) == 0:
                body = draw(BYTES_200)
            return method, path, {"data": body, "content_type": content_type, "headers": headers}
        if template is None or draw(ONE_IN_6) == 0:
            return method, path, {"data": draw(RAW_BODIES), "headers": headers}
        return method, path, {"body": mutate(draw, template), "headers": headers}

    return one_request()
