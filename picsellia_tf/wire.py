"""The one conversion point between the platform's wire shapes and Python.

``parse_*`` turn answers into the dataclasses of :mod:`picsellia_tf.types` (accepting the
reference's typos: ``date_joigned``, ``predicatble``, labels keyed ``type``); ``encode_*`` turn
the arguments users pass into request bodies, raising :class:`ValidationError` naming the
argument when they are wrong. Index-keyed objects (``{"1": {...}, "2": {...}}``) become lists
ordered by the integer value of their keys.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from picsellia_tf._checks import check_choice, check_list, check_text, invalid, is_list
from picsellia_tf._limits import MAX_TAG_LENGTH, QA_TYPES, ROLES, TOOLS
from picsellia_tf.errors import PicselliaError, ValidationError
from picsellia_tf.types import (
    Account,
    Collaborator,
    DataRow,
    Dataset,
    DatasetRef,
    DatasetSummary,
    Experiment,
    ExperimentRef,
    ImageAnnotation,
    Label,
    LabelLink,
    Model,
    ModelRef,
    ModelSummary,
    Preview,
    Project,
    ProjectRef,
    ProjectStats,
    ProjectSummary,
    QAQuestion,
    RawData,
    Rectangle,
    Shape,
)


class WireError(PicselliaError, ValueError):
    """An answer from the server does not have the shape the wire spec gives it."""


# --------------------------------------------------------------------------- index-keyed lists


def from_indexed(obj: Any, where: str = "value") -> list[Any]:
    """The items of an index-keyed object, ordered by the integer value of the keys.

    Also accepts a plain list (returned as a copy) and ``None`` (an empty list).
    """
    if obj is None:
        return []
    if isinstance(obj, list | tuple):
        return list(obj)
    if not isinstance(obj, Mapping):
        raise WireError(f"{where}: expected an index-keyed object or a list, got {_kind(obj)}")
    keyed: list[tuple[int, Any]] = []
    for key, value in obj.items():
        try:
            index = int(key)
        except (TypeError, ValueError):
            raise WireError(f"{where}: key {key!r} is not an integer index") from None
        keyed.append((index, value))
    keyed.sort(key=lambda kv: kv[0])
    return [value for _, value in keyed]


def to_indexed(items: Iterable[Any], start: int = 1) -> dict[str, Any]:
    """A list as an index-keyed object: ``{"1": items[0], "2": items[1], ...}``."""
    return {str(i): item for i, item in enumerate(items, start)}


def callers_index(message: str, arg: str, start: int = 1) -> str:
    """A server message that names an item of an index-keyed body (``arg[K]``, the wire key,
    numbered from ``start``) with the caller's list index instead (``arg[K - start]``)."""
    pattern = re.compile(rf"(?<![\w.]){re.escape(arg)}\[(\d+)\]")
    return pattern.sub(lambda m: f"{arg}[{int(m.group(1)) - start}]", message, count=1)


# --------------------------------------------------------------------------- field access helpers


def _kind(value: Any) -> str:
    return type(value).__name__


def _obj(value: Any, where: str) -> Mapping[str, Any]:
    if type(value) is dict:  # what JSON gives: skips the ABC check (pages hold 10,000 items)
        return value
    if not isinstance(value, Mapping):
        raise WireError(f"{where}: expected an object, got {_kind(value)}")
    return value


def _req(d: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in d or d[key] is None:
        raise WireError(f"{where}: missing field {key!r}")
    return d[key]


def _str(d: Mapping[str, Any], key: str, where: str) -> str:
    value = d.get(key)
    if type(value) is str:
        return value
    value = _req(d, key, where)
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise WireError(f"{where}: field {key!r} should be a string, got {_kind(value)}")
    return str(value)


def _opt_str(d: Mapping[str, Any], key: str) -> str | None:
    value = d.get(key)
    return None if value is None else str(value)


def _num(value: Any, where: str) -> float:
    if type(value) is float:
        return value
    if type(value) is int:
        return float(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise WireError(f"{where}: expected a number, got {value!r}")
    return float(value)


def _opt_num(d: Mapping[str, Any], key: str, where: str) -> float | None:
    value = d.get(key)
    if value is None or value == "":
        return None
    return _num(value, f"{where}.{key}")


def _int(value: Any, where: str) -> int:
    if type(value) is int:
        return value
    if isinstance(value, bool):
        raise WireError(f"{where}: expected an integer, got {value!r}")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise WireError(f"{where}: expected an integer, got {value!r}")


def _opt_int(d: Mapping[str, Any], key: str, where: str) -> int | None:
    value = d.get(key)
    return None if value is None else _int(value, f"{where}.{key}")


def _opt_bool(d: Mapping[str, Any], *keys: str) -> bool | None:
    for key in keys:
        if d.get(key) is not None:
            return bool(d[key])
    return None


def _shape(value: Any, where: str) -> tuple[int, int] | None:
    if value is None:
        return None
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise WireError(f"{where}: expected [width, height], got {value!r}")
    return (_int(value[0], where), _int(value[1], where))


def _items(d: Mapping[str, Any], key: str, where: str) -> list[Any]:
    return from_indexed(d.get(key), f"{where}.{key}")


# --------------------------------------------------------------------------- parsers


def parse_account(d: Any) -> Account:
    """``GET /sdk/check_connection``: the reference's ``{"project_id"}``, every field optional
    (the local platform adds ``username``, ``email``, ``organisation``)."""
    d = _obj(d, "account")
    for key in ("project_id", "username", "email", "organisation"):
        if d.get(key) is not None:
            _str(d, key, "account")  # a string (or an id number) where given
    return Account(
        username=_opt_str(d, "username"),
        email=_opt_str(d, "email"),
        organisation=_opt_str(d, "organisation"),
        project_id=_opt_str(d, "project_id"),
    )


def parse_label(d: Any, where: str = "label") -> Label:
    """``{"label_name", "tool"}`` (or ``"type"``, as the reference's example writes it)."""
    d = _obj(d, where)
    tool = d.get("tool", d.get("type"))
    return Label(name=_str(d, "label_name", where), tool=str(tool) if tool else "rectangle")


def parse_collaborator(d: Any, where: str = "collaborator") -> Collaborator:
    """``{"email", "role", "username"?, "date_joigned"?}``."""
    d = _obj(d, where)
    return Collaborator(
        email=_str(d, "email", where),
        role=_str(d, "role", where),
        username=_opt_str(d, "username"),
        joined=_opt_str(d, "date_joigned") or _opt_str(d, "date_joined"),
    )


def parse_qa_question(d: Any, where: str = "question") -> QAQuestion:
    """One Q&A entry."""
    d = _obj(d, where)
    values = d.get("values")
    return QAQuestion(
        question=_str(d, "question", where),
        type=str(d.get("type") or "text"),
        min=_opt_num(d, "min", where),
        max=_opt_num(d, "max", where),
        values=list(values) if values is not None else None,
    )


def parse_label_link(d: Any, where: str = "link") -> LabelLink:
    """``{"label_name", "link_with"}``."""
    d = _obj(d, where)
    return LabelLink(label_name=_str(d, "label_name", where), link_with=_str(d, "link_with", where))


def parse_dataset_ref(d: Any, where: str = "dataset") -> DatasetRef:
    """``{"dataset_id", "dataset_name"}``."""
    d = _obj(d, where)
    return DatasetRef(id=_str(d, "dataset_id", where), name=_str(d, "dataset_name", where))


def parse_model_ref(d: Any, where: str = "model") -> ModelRef:
    """``{"model_id", "model_name"}``."""
    d = _obj(d, where)
    return ModelRef(id=_str(d, "model_id", where), name=_str(d, "model_name", where))


def parse_project_ref(d: Any, where: str = "project") -> ProjectRef:
    """``{"project_id", "project_name", "project_type"?}``."""
    d = _obj(d, where)
    return ProjectRef(
        id=_str(d, "project_id", where),
        name=_str(d, "project_name", where),
        type=_opt_str(d, "project_type"),
    )


def _list_of(d: Mapping[str, Any], key: str, where: str, parse: Any) -> list[Any]:
    return [parse(item, f"{where}.{key}[{i}]") for i, item in enumerate(_items(d, key, where))]


def parse_project_summary(d: Any, where: str = "project") -> ProjectSummary:
    """A ``project_list`` item: ``{"id", "project_name"}``."""
    d = _obj(d, where)
    return ProjectSummary(
        id=_str(d, "id" if "id" in d else "project_id", where),
        name=_str(d, "project_name", where),
    )


def parse_project(d: Any) -> Project:
    """A project from ``project_infos``."""
    d = _obj(d, "project")
    where = "project"
    dataset = d.get("dataset")
    metrics = d.get("metrics") or {}
    return Project(
        id=_str(d, "id" if "id" in d else "project_id", where),
        name=_str(d, "project_name", where),
        type=_opt_str(d, "type") or _opt_str(d, "project_type"),
        description=_opt_str(d, "description"),
        private=_opt_bool(d, "private"),
        dataset=parse_dataset_ref(dataset, f"{where}.dataset") if dataset else None,
        labels=_list_of(d, "labels", where, parse_label),
        collaborators=_list_of(d, "collaborators", where, parse_collaborator),
        models=_list_of(d, "models", where, parse_model_ref),
        nb_annotations=_opt_int(_obj(metrics, f"{where}.metrics"), "nb_annotations", where),
        image_qa=_list_of(d, "image_qa", where, parse_qa_question),
        shape_qa=_list_of(d, "shape_qa", where, parse_qa_question),
    )


def _floats(d: Mapping[str, Any], key: str, where: str) -> list[float]:
    value = d.get(key) or []
    if not isinstance(value, list | tuple):
        raise WireError(f"{where}: field {key!r} should be a list, got {_kind(value)}")
    return [_num(v, f"{where}.{key}") for v in value]


def parse_project_stats(d: Any) -> ProjectStats:
    """``GET /api/v1/project_stats/:id`` (``labels_per_classe`` etc. renamed)."""
    d = _obj(d, "stats")
    w = "stats"

    def num(*keys: str) -> float:
        for key in keys:
            value = _opt_num(d, key, w)
            if value is not None:
                return value
        return 0.0

    return ProjectStats(
        labels=[str(x) for x in d.get("labels") or []],
        labels_per_class=_floats(d, "labels_per_classe", w) or _floats(d, "labels_per_class", w),
        label_variance=num("label_variance"),
        time_per_image=_floats(d, "time_per_image", w),
        assets_per_image=_floats(d, "assets_per_image", w),
        nb_images_annotated=int(num("nb_images_annotated")),
        images_remaining=int(num("images_remaining")),
        total_labels_submitted=int(num("total_labels_submitted")),
        average_time_by_image=num("average_time_by_image"),
        mean_assets_per_image=num("mean_assets_per_images", "mean_assets_per_image"),
        total_time_spent=_opt_num(d, "total_time_spent", w),
        predicted_time=num("predicted_time"),
        percentage_advancement=num("percentage_advancement"),
    )


def parse_experiment_ref(d: Any, where: str = "experiment") -> ExperimentRef:
    """``{"training_id", "project_id"?, "created"?}``."""
    d = _obj(d, where)
    return ExperimentRef(
        training_id=_int(_req(d, "training_id", where), f"{where}.training_id"),
        project_id=_opt_str(d, "project_id"),
        created=_opt_str(d, "created"),
    )


def parse_model_summary(d: Any, where: str = "model") -> ModelSummary:
    """A ``models_list`` item (``predicatble`` accepted)."""
    d = _obj(d, where)
    tags = d.get("tags") or []
    return ModelSummary(
        id=_str(d, "model_id", where),
        name=_str(d, "model_name", where),
        type=_opt_str(d, "model_type"),
        tags=[str(t) for t in tags] if isinstance(tags, list | tuple) else [],
        trainable=_opt_bool(d, "trainable"),
        predictable=_opt_bool(d, "predictable", "predicatble"),
        used_in=_list_of(d, "used_in", where, parse_project_ref),
    )


def parse_model(d: Any) -> Model:
    """A model from ``model_infos`` (``predicatble`` accepted)."""
    d = _obj(d, "model")
    where = "model"
    tags = d.get("tags") or []
    return Model(
        id=_str(d, "model_id", where),
        name=_str(d, "model_name", where),
        type=_opt_str(d, "model_type"),
        tags=[str(t) for t in tags] if isinstance(tags, list | tuple) else [],
        description=_opt_str(d, "description"),
        private=_opt_bool(d, "private"),
        trainable=_opt_bool(d, "trainable"),
        predictable=_opt_bool(d, "predictable", "predicatble"),
        paper_link=_opt_str(d, "paper_link"),
        github_link=_opt_str(d, "github_link"),
        performances=dict(d.get("performances") or {}),
        labels=d.get("labels"),
        used_in=_list_of(d, "used_in", where, parse_project_ref),
        experiments=_list_of(d, "experiments", where, parse_experiment_ref),
        versions_listed=d.get("experiments") is not None,
    )


def parse_experiment(
    d: Any, *, project_id: str | None = None, model_name: str | None = None
) -> Experiment:
    """``GET /sdk/init_model``: ``{"network_id", "training_id"}``."""
    d = _obj(d, "experiment")
    return Experiment(
        network_id=_str(d, "network_id", "experiment"),
        training_id=_int(_req(d, "training_id", "experiment"), "experiment.training_id"),
        project_id=project_id,
        model_name=model_name,
    )


def parse_presigned_post(d: Any) -> tuple[str, dict[str, Any]]:
    """``GET /sdk/get_post_url_preview``: the storage URL and form fields of a presigned POST,
    from the nested ``{"url": {"url", "fields"}}`` the released SDK read, or a flat
    ``{"url", "fields"}``."""
    d = _obj(d, "answer")
    inner = d.get("url")
    if isinstance(inner, Mapping):
        d = inner
    url, fields = d.get("url"), d.get("fields")
    if not isinstance(url, str) or not url:
        raise WireError(f"answer: missing field 'url' (a string) in {str(d)[:200]}")
    if not isinstance(fields, Mapping):
        got = "nothing" if fields is None else type(fields).__name__
        raise WireError(f"answer: field 'fields' should be a dict, got {got}")
    return url, dict(fields)


def parse_preview(d: Any, where: str = "preview") -> Preview:
    """``{"object_name", "url"?}`` (a bare object name is accepted too)."""
    if isinstance(d, str):
        return Preview(object_name=d)
    d = _obj(d, where)
    return Preview(object_name=_str(d, "object_name", where), url=_opt_str(d, "url"))


def parse_dataset_summary(d: Any, where: str = "dataset") -> DatasetSummary:
    """A ``dataset_list`` item."""
    d = _obj(d, where)
    return DatasetSummary(
        id=_str(d, "dataset_id", where),
        name=_str(d, "dataset_name", where),
        size=_opt_int(d, "dataset_size", where),
        description=_opt_str(d, "description"),
        created_by=_opt_str(d, "created_by"),
        used_in=_list_of(d, "used_in", where, parse_project_ref),
    )


def parse_dataset(d: Any) -> Dataset:
    """A dataset from ``dataset_info``."""
    d = _obj(d, "dataset")
    where = "dataset"
    return Dataset(
        id=_str(d, "dataset_id", where),
        name=_str(d, "dataset_name", where),
        size=_opt_int(d, "dataset_size", where),
        description=_opt_str(d, "description"),
        created_by=_opt_str(d, "created_by"),
        private=_opt_bool(d, "private"),
        used_in=_list_of(d, "used_in", where, parse_project_ref),
    )


def _external(d: Mapping[str, Any], where: str) -> tuple[str, str | None]:
    """The file name and download URL an item's ``external_url`` gives: the reference shows it
    as a URL on ``raw_data`` and as a file name on a data row. A URL's name is the last segment
    of its path; a ``url`` field (the local platform's signed URL) is the download URL where
    given."""
    external = _str(d, "external_url", where)
    url = _opt_str(d, "url")
    if "//" not in external:  # a file name (a URL needs a scheme and a host)
        return external, url
    parts = urlsplit(external)
    if parts.scheme in ("http", "https") and parts.netloc:
        name = unquote(parts.path.rstrip("/").rsplit("/", 1)[-1]) or external
        return name, url or external
    return external, url


def parse_raw_data(d: Any, where: str = "raw data") -> RawData:
    """A ``raw_data`` item: ``external_url`` is the filename (or a URL to the file),
    ``shape`` ``[width, height]``."""
    d = _obj(d, where)
    filename, url = _external(d, where)
    return RawData(
        id=_str(d, "id", where),
        filename=filename,
        shape=_shape(d.get("shape"), f"{where}.shape"),
        url=url,
        checksum=_opt_str(d, "checksum"),
        size=_opt_int(d, "size", where),
    )


def parse_data_row(d: Any) -> DataRow:
    """``GET /api/v1/dataset/:dataset_id/:row_id`` (``size`` is in megabytes)."""
    d = _obj(d, "data row")
    where = "data row"
    filename, url = _external(d, where)
    return DataRow(
        id=_str(d, "id", where),
        filename=filename,
        object_name=_opt_str(d, "object_name"),
        type=_opt_str(d, "type"),
        format=_opt_str(d, "format"),
        size_mb=_opt_num(d, "size", where),
        import_date=_opt_str(d, "import_date"),
        shape=_shape(d.get("shape"), f"{where}.shape"),
        url=url,
        checksum=_opt_str(d, "checksum"),
    )


def parse_rectangle(d: Any, where: str = "rectangle") -> Rectangle | None:
    """``{"left": x, "top": y, "width", "height"}``; an empty object is no rectangle."""
    if not d:
        return None
    d = _obj(d, where)
    return Rectangle(
        left=_num(_req(d, "left", where), f"{where}.left"),
        top=_num(_req(d, "top", where), f"{where}.top"),
        width=_num(_req(d, "width", where), f"{where}.width"),
        height=_num(_req(d, "height", where), f"{where}.height"),
    )


def parse_shape(d: Any, where: str = "shape") -> Shape:
    """One item of ``annotations``: a rectangle or points in ``polygon.geometry``."""
    d = _obj(d, where)
    polygon = d.get("polygon") or {}
    geometry = _obj(polygon, f"{where}.polygon").get("geometry") or []
    if not isinstance(geometry, list | tuple):
        raise WireError(f"{where}.polygon.geometry: expected a list of points")
    points = []
    for i, p in enumerate(geometry):
        pw = f"{where}.polygon.geometry[{i}]"
        p = _obj(p, pw)
        points.append((_num(_req(p, "x", pw), f"{pw}.x"), _num(_req(p, "y", pw), f"{pw}.y")))
    return Shape(
        type=_str(d, "type", where),
        label=_str(d, "label", where),
        rectangle=parse_rectangle(d.get("rectangle"), f"{where}.rectangle"),
        points=points,
    )


def parse_image_annotation(d: Any, where: str = "annotation") -> ImageAnnotation:
    """One item of ``GET /api/v1/annotations/:project_id``."""
    d = _obj(d, where)
    shapes = [
        parse_shape(s, f"{where}.annotations[{i}]")
        for i, s in enumerate(from_indexed(d.get("annotations"), f"{where}.annotations"))
    ]
    time_spent = _opt_num(d, "time_spent", where)
    qa = d.get("QandA") or {}
    return ImageAnnotation(
        image_id=_opt_str(d, "internal_picture_id"),
        shapes=shapes,
        filename=_opt_str(d, "external_picture_url"),
        time_spent=time_spent if time_spent is not None else 0.0,
        qa=dict(_obj(qa, f"{where}.QandA")),
        nb_labels=_opt_int(d, "nb_labels", where),
    )


def parse_logs(d: Any) -> dict[str, dict[str, list[Any]]]:
    """A LOGS object ``{"tag": {"step": [...], "value": [...], "wall_time": [...]}}``."""
    d = _obj(d, "logs")
    out: dict[str, dict[str, list[Any]]] = {}
    for tag, series in d.items():
        series = _obj(series, f"logs[{tag!r}]")
        out[str(tag)] = {k: list(v) for k, v in series.items() if isinstance(v, list | tuple)}
    return out


# --------------------------------------------------------------------------- argument encoders


def _number(value: Any, arg: str) -> float | int:
    kind = type(value)
    if kind is float or kind is int:  # the common case, without the ABC checks below
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise invalid(arg, f"expected a number, got {value!r}")
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def coerce_label(value: Any, arg: str = "label") -> Label:
    """A :class:`Label` from a ``Label``, a name, ``(name, tool)`` or ``{"label_name", "tool"}``."""
    name: Any
    tool: Any
    if isinstance(value, Label):
        name, tool = value.name, value.tool
    elif isinstance(value, str):
        name, tool = value, "rectangle"
    elif isinstance(value, Mapping):
        name = value.get("label_name", value.get("name"))
        tool = value.get("tool", value.get("type", "rectangle"))
    elif isinstance(value, tuple | list) and len(value) == 2:
        name, tool = value
    else:
        raise invalid(arg, f"expected a Label, (name, tool) or a dict, got {value!r}")
    return Label(check_text(name, f"{arg}.name"), check_choice(tool, TOOLS, f"{arg}.tool"))


def encode_labels(labels: Any, arg: str = "labels") -> dict[str, dict[str, str]]:
    """``{"1": {"label_name", "tool"}, ...}``; names must be unique."""
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for i, item in enumerate(check_list(labels, arg)):
        label = coerce_label(item, f"{arg}[{i}]")
        if label.name in seen:
            raise invalid(f"{arg}[{i}]", f"label {label.name!r} appears twice")
        seen.add(label.name)
        out.append({"label_name": label.name, "tool": label.tool})
    return to_indexed(out)


def _pair(
    value: Any, cls: type, fields: tuple[str, str], arg: str, expected: str
) -> tuple[Any, Any]:
    """The two fields of an item given as a ``cls`` instance, a dict or a 2-sequence."""
    if isinstance(value, cls):
        return getattr(value, fields[0]), getattr(value, fields[1])
    if isinstance(value, Mapping):
        return value.get(fields[0]), value.get(fields[1])
    if isinstance(value, tuple | list) and len(value) == 2:
        return value[0], value[1]
    raise invalid(arg, f"expected {expected}, got {value!r}")


def coerce_collaborator(value: Any, arg: str = "collaborator") -> Collaborator:
    """A :class:`Collaborator` from one, ``(email, role)`` or ``{"email", "role"}``."""
    email, role = _pair(
        value, Collaborator, ("email", "role"), arg, "a Collaborator, (email, role) or a dict"
    )
    email = check_text(email, f"{arg}.email")
    if "@" not in email:
        raise invalid(f"{arg}.email", f"{email!r} is not an email address")
    return Collaborator(email=email, role=check_choice(role, ROLES, f"{arg}.role"))


def encode_collaborators(team: Any, arg: str = "collaborators") -> dict[str, dict[str, str]]:
    """``{"1": {"email", "role"}, ...}``."""
    items = [coerce_collaborator(c, f"{arg}[{i}]") for i, c in enumerate(check_list(team, arg))]
    return to_indexed({"email": c.email, "role": c.role} for c in items)


def coerce_qa_question(value: Any, arg: str = "question") -> QAQuestion:
    """A :class:`QAQuestion` from one or from a dict, checked against its type's needs."""
    if isinstance(value, QAQuestion):
        q = value
    elif isinstance(value, Mapping):
        q = QAQuestion(
            question=value.get("question"),  # type: ignore[arg-type]
            type=value.get("type", "text"),
            min=value.get("min"),
            max=value.get("max"),
            values=value.get("values"),
        )
    else:
        raise invalid(arg, f"expected a QAQuestion or a dict, got {value!r}")
    check_text(q.question, f"{arg}.question")
    check_choice(q.type, QA_TYPES, f"{arg}.type")
    if q.type == "range":
        if q.min is None or q.max is None:
            raise invalid(arg, "a 'range' question needs min and max")
        if _number(q.min, f"{arg}.min") >= _number(q.max, f"{arg}.max"):
            raise invalid(arg, f"min ({q.min}) must be less than max ({q.max})")
    if q.type in ("choice", "mc") and (not is_list(q.values) or not list(q.values or [])):
        raise invalid(arg, f"a {q.type!r} question needs a non-empty list of values")
    return q


def encode_qa(questions: Any, arg: str = "qa") -> dict[str, dict[str, Any]]:
    """``{"1": {"question", "type", "min"?, "max"?, "values"?}, ...}``."""
    out = []
    for i, item in enumerate(check_list(questions, arg)):
        q = coerce_qa_question(item, f"{arg}[{i}]")
        entry: dict[str, Any] = {"question": q.question, "type": q.type}
        if q.min is not None:
            entry["min"] = q.min
        if q.max is not None:
            entry["max"] = q.max
        if q.values is not None:
            entry["values"] = list(q.values)
        out.append(entry)
    return to_indexed(out)


def coerce_label_link(value: Any, arg: str = "link") -> LabelLink:
    """A :class:`LabelLink` from one, ``(label_name, link_with)`` or a dict."""
    name, link = _pair(
        value,
        LabelLink,
        ("label_name", "link_with"),
        arg,
        "a LabelLink, (label_name, link_with) or a dict",
    )
    return LabelLink(check_text(name, f"{arg}.label_name"), check_text(link, f"{arg}.link_with"))


def encode_label_links(links: Any, arg: str = "links") -> dict[str, dict[str, str]]:
    """``{"1": {"label_name", "link_with"}, ...}``."""
    items = [coerce_label_link(x, f"{arg}[{i}]") for i, x in enumerate(check_list(links, arg))]
    return to_indexed({"label_name": x.label_name, "link_with": x.link_with} for x in items)


def _check_shape(shape: Shape, arg: str) -> None:
    check_text(shape.label, f"{arg}.label")
    check_choice(shape.type, TOOLS, f"{arg}.type")
    if shape.type == "rectangle":
        r = shape.rectangle
        if r is None:
            raise invalid(arg, "a rectangle shape needs a rectangle")
        for name in ("left", "top", "width", "height"):
            value = getattr(r, name)
            _number(value, f"{arg}.rectangle.{name}")
            if not math.isfinite(value) or value < 0:
                raise invalid(f"{arg}.rectangle.{name}", f"must be a finite number >= 0: {value}")
        if r.width <= 0 or r.height <= 0:
            raise invalid(f"{arg}.rectangle", f"width and height must be > 0: {r}")
    else:
        for j, point in enumerate(shape.points):
            if not is_list(point) or len(point) != 2:
                raise invalid(f"{arg}.points[{j}]", f"expected (x, y), got {point!r}")
            for v in point:
                if not math.isfinite(_number(v, f"{arg}.points[{j}]")):
                    raise invalid(f"{arg}.points[{j}]", f"not a finite number: {v}")
        distinct = {(float(x), float(y)) for x, y in shape.points}
        need = {"polygon": 3, "line": 2, "point": 1}[shape.type]
        if len(distinct) < need:
            raise invalid(f"{arg}.points", f"a {shape.type} needs at least {need} distinct points")


def encode_shape(shape: Shape, arg: str = "shape") -> dict[str, Any]:
    """One wire annotation item: ``{"type", "label", "rectangle", "polygon": {"geometry"}}``."""
    _check_shape(shape, arg)
    rect = shape.rectangle
    return {
        "type": shape.type,
        "label": shape.label,
        "rectangle": (
            {"left": rect.left, "top": rect.top, "width": rect.width, "height": rect.height}
            if rect is not None and shape.type == "rectangle"
            else {}
        ),
        "polygon": {"geometry": [{"x": x, "y": y} for x, y in shape.points]},
    }


def coerce_image_annotation(value: Any, arg: str = "annotation") -> ImageAnnotation:
    """An :class:`ImageAnnotation` from one or from a wire-shaped dict."""
    if isinstance(value, ImageAnnotation):
        return value
    if isinstance(value, Mapping):
        try:
            return parse_image_annotation(value, arg)
        except WireError as exc:
            raise ValidationError(str(exc)) from None
    raise invalid(arg, f"expected an ImageAnnotation or a dict, got {_kind(value)}")


def encode_image_annotation(value: Any, arg: str = "annotation") -> dict[str, Any]:
    """One upload item, naming its image by ``internal_picture_id`` or filename."""
    ann = coerce_image_annotation(value, arg)
    if not ann.image_id and not ann.filename:
        raise invalid(arg, "needs an image_id (raw data id) or a filename")
    shapes = [encode_shape(s, f"{arg}.shapes[{j}]") for j, s in enumerate(ann.shapes)]
    time_spent = _number(ann.time_spent, f"{arg}.time_spent")
    if time_spent < 0:
        raise invalid(f"{arg}.time_spent", f"must be >= 0: {time_spent}")
    item: dict[str, Any] = {
        "nb_labels": len(shapes),
        "time_spent": time_spent,
        "QandA": dict(ann.qa),
        "annotations": shapes,
    }
    if ann.image_id:
        item["internal_picture_id"] = ann.image_id
    if ann.filename:
        item["external_picture_url"] = ann.filename
    return item


def encode_image_annotations(values: Any, arg: str = "annotations") -> dict[str, dict[str, Any]]:
    """``{"1": ITEM, ...}`` for ``POST /sdk/upload_annotations`` (from a list, or an
    index-keyed object)."""
    if isinstance(values, Mapping) and values and all(str(k).isdigit() for k in values):
        values = from_indexed(values, arg)
    return to_indexed(
        encode_image_annotation(v, f"{arg}[{i}]") for i, v in enumerate(check_list(values, arg))
    )


def encode_logs(logs: Any, arg: str = "logs") -> dict[str, dict[str, list[Any]]]:
    """A checked copy of a LOGS object, with plain Python ints and floats (NaN/inf kept)."""
    if not isinstance(logs, Mapping):
        raise invalid(
            arg, f"expected {{tag: {{'step': [...], 'value': [...]}}}}, got {_kind(logs)}"
        )
    out: dict[str, dict[str, list[Any]]] = {}
    for tag, series in logs.items():
        where = f"{arg}[{tag!r}]"
        if not isinstance(tag, str) or not tag or len(tag) > MAX_TAG_LENGTH:
            raise invalid(where, f"a tag must be a non-empty string of at most {MAX_TAG_LENGTH}")
        if not isinstance(series, Mapping):
            raise invalid(where, f"expected {{'step': [...], 'value': [...]}}, got {_kind(series)}")
        unknown = set(series) - {"step", "value", "wall_time"}
        if unknown:
            raise invalid(where, f"unknown keys {sorted(map(str, unknown))}")
        if "step" not in series or "value" not in series:
            raise invalid(where, "needs both 'step' and 'value'")
        steps = []
        for j, s in enumerate(check_list(series["step"], f"{where}['step']")):
            if type(s) is int and s >= 0:  # the common case, without the ABC checks below
                steps.append(s)
                continue
            if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 0:
                raise invalid(f"{where}['step'][{j}]", f"a step must be an int >= 0, got {s!r}")
            steps.append(int(s))
        values = [
            float(_number(v, f"{where}['value'][{j}]"))
            for j, v in enumerate(check_list(series["value"], f"{where}['value']"))
        ]
        if len(values) != len(steps):
            raise invalid(where, f"{len(steps)} steps but {len(values)} values")
        entry: dict[str, list[Any]] = {"step": steps, "value": values}
        if series.get("wall_time") is not None:
            walls = [
                float(_number(v, f"{where}['wall_time'][{j}]"))
                for j, v in enumerate(check_list(series["wall_time"], f"{where}['wall_time']"))
            ]
            if len(walls) != len(steps):
                raise invalid(where, f"{len(steps)} steps but {len(walls)} wall times")
            entry["wall_time"] = walls
        out[tag] = entry
    return out
