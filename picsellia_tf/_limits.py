"""What the platform's API allows, written once for the client and the local platform.

This module imports nothing, so that :mod:`picsellia_tf.local` (which imports nothing from the
client side) can use it too.
"""

PROJECT_TYPES: tuple[str, ...] = ("classification", "detection", "segmentation")
"""A project's ``type``."""

TOOLS: tuple[str, ...] = ("rectangle", "polygon", "line", "point")
"""A label's drawing ``tool`` (and a shape's ``type``)."""

ROLES: tuple[str, ...] = ("labeler", "reviewer", "manager", "admin")
"""A collaborator's ``role``."""

QA_TYPES: tuple[str, ...] = ("text", "range", "choice", "mc")
"""A Questions & Answers entry's ``type``."""

MAX_TAG_LENGTH = 256
"""Characters of a log tag (``post_logs``)."""

MAX_RANGE = 10_000
"""Items one ranged request may ask for (``{"range": [start, stop]}``)."""
