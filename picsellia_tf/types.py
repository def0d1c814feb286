"""Plain dataclasses for what the platform's API returns.

Every field has a clean Python name; `picsellia_tf.wire` is the one place that maps the
wire's field names (and typos such as ``date_joigned``) onto these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Account:
    """What ``check_connection`` confirmed: the token is valid, and whatever the platform said
    of it. The reference's answer is ``{"project_id"}`` alone; the local platform also says
    who the token belongs to. A field the platform did not give is None."""

    username: str | None = None
    email: str | None = None
    organisation: str | None = None
    project_id: str | None = None


@dataclass(frozen=True)
class Label:
    """A project label and the tool used to draw it."""

    name: str
    tool: str = "rectangle"


@dataclass(frozen=True)
class Collaborator:
    """A member of a project's team."""

    email: str
    role: str
    username: str | None = None
    joined: str | None = None


@dataclass(frozen=True)
class QAQuestion:
    """One Questions & Answers entry (image or shape level)."""

    question: str
    type: str = "text"
    min: float | None = None
    max: float | None = None
    values: list[Any] | None = None


@dataclass(frozen=True)
class LabelLink:
    """A project label linked to a pre-annotation label of a model (``set_automations``)."""

    label_name: str
    link_with: str


@dataclass(frozen=True)
class DatasetRef:
    """A dataset named by id and name."""

    id: str
    name: str


@dataclass(frozen=True)
class ModelRef:
    """A model named by id and name."""

    id: str
    name: str


@dataclass(frozen=True)
class ProjectRef:
    """A project named by id and name (and type where the route gives it)."""

    id: str
    name: str
    type: str | None = None


@dataclass(frozen=True)
class ProjectSummary:
    """A ``projects.list()`` item: what ``project_list`` answers, an id and a name. The type,
    labels, team and models are in :class:`Project`, from ``projects.get(id)``."""

    id: str
    name: str


@dataclass(frozen=True)
class Project:
    """A project in full (``projects.get()``); ``None`` where the platform did not say."""

    id: str
    name: str
    type: str | None = None
    description: str | None = None
    private: bool | None = None
    dataset: DatasetRef | None = None
    labels: list[Label] = field(default_factory=list)
    collaborators: list[Collaborator] = field(default_factory=list)
    models: list[ModelRef] = field(default_factory=list)
    nb_annotations: int | None = None
    image_qa: list[QAQuestion] = field(default_factory=list)
    shape_qa: list[QAQuestion] = field(default_factory=list)


@dataclass(frozen=True)
class ProjectStats:
    """Annotation progress and label statistics of a project."""

    labels: list[str]
    labels_per_class: list[float]
    label_variance: float
    time_per_image: list[float]
    assets_per_image: list[float]
    nb_images_annotated: int
    images_remaining: int
    total_labels_submitted: int
    average_time_by_image: float
    mean_assets_per_image: float
    total_time_spent: float | None
    predicted_time: float
    percentage_advancement: float


@dataclass(frozen=True)
class ExperimentRef:
    """One experiment version of a model."""

    training_id: int
    project_id: str | None = None
    created: str | None = None


@dataclass(frozen=True)
class ModelSummary:
    """A ``models.list()`` item: what ``models_list`` answers. The description, links,
    performances, labels and experiment versions are in :class:`Model`, from
    ``models.get(id)``; ``None`` where the platform did not say."""

    id: str
    name: str
    type: str | None = None
    tags: list[str] = field(default_factory=list)
    trainable: bool | None = None
    predictable: bool | None = None
    used_in: list[ProjectRef] = field(default_factory=list)


@dataclass(frozen=True)
class Model:
    """A model in full (``models.get()``); ``None`` where the platform did not say."""

    id: str
    name: str
    type: str | None = None
    tags: list[str] = field(default_factory=list)
    description: str | None = None
    private: bool | None = None
    trainable: bool | None = None
    predictable: bool | None = None
    paper_link: str | None = None
    github_link: str | None = None
    performances: dict[str, Any] = field(default_factory=dict)
    labels: Any = None
    used_in: list[ProjectRef] = field(default_factory=list)
    experiments: list[ExperimentRef] = field(default_factory=list)
    versions_listed: bool = False
    """Whether the platform listed the experiment versions (``experiments``, a local-platform
    extension of ``model_infos``); when False, ``experiments`` is empty because the platform
    did not say, not because there are none."""


@dataclass(frozen=True)
class Experiment:
    """A new experiment version, as ``experiments.init`` returns it."""

    network_id: str
    training_id: int
    project_id: str | None = None
    model_name: str | None = None


@dataclass(frozen=True)
class Preview:
    """A recorded preview image of an experiment version."""

    object_name: str
    url: str | None = None


@dataclass(frozen=True)
class DatasetSummary:
    """A ``datasets.list()`` item: what ``dataset_list`` answers (whether the dataset is
    private is in :class:`Dataset`, from ``datasets.get(id)``)."""

    id: str
    name: str
    size: int | None = None
    description: str | None = None
    created_by: str | None = None
    used_in: list[ProjectRef] = field(default_factory=list)


@dataclass(frozen=True)
class Dataset:
    """A dataset of raw data (``datasets.get()``); ``None`` where the platform did not say:
    the reference's ``dataset_info`` has no creator, ``datasets.list()`` has it."""

    id: str
    name: str
    size: int | None = None
    description: str | None = None
    created_by: str | None = None
    private: bool | None = None
    used_in: list[ProjectRef] = field(default_factory=list)


@dataclass(frozen=True)
class RawData:
    """One file of a dataset. ``shape`` is ``(width, height)``; ``url`` a signed download URL."""

    id: str
    filename: str
    shape: tuple[int, int] | None = None
    url: str | None = None
    checksum: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class DataRow:
    """One file of a dataset with its storage details (``datasets.get_row``)."""

    id: str
    filename: str
    object_name: str | None = None
    type: str | None = None
    format: str | None = None
    size_mb: float | None = None
    import_date: str | None = None
    shape: tuple[int, int] | None = None
    url: str | None = None
    checksum: str | None = None


@dataclass(frozen=True)
class Rectangle:
    """An axis-aligned box in pixels: ``left`` = x (column), ``top`` = y (row)."""

    left: float
    top: float
    width: float
    height: float


@dataclass(frozen=True)
class Shape:
    """One annotated object: a rectangle, or points (polygon, line, point)."""

    type: str
    label: str
    rectangle: Rectangle | None = None
    points: list[tuple[float, float]] = field(default_factory=list)


@dataclass(frozen=True)
class ImageAnnotation:
    """The annotation of one image of a project."""

    image_id: str | None
    shapes: list[Shape] = field(default_factory=list)
    filename: str | None = None
    time_spent: float = 0.0
    qa: dict[str, Any] = field(default_factory=dict)
    nb_labels: int | None = None
