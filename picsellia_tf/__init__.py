"""picsellia_tf: TensorFlow/Keras training on the Picsellia platform.

``Client`` talks to the platform's API; ``PicselliaCallback`` streams a ``model.fit`` run to it;
``LocalPlatform`` runs the same API locally. ``ImageAnnotation``, ``Shape``, ``Rectangle`` and
``Label`` (from :mod:`picsellia_tf.types`) are what annotations and labels are made of. All
but the errors load only when first used (Keras, the local server, and the types, which the
local server does not use), so ``import picsellia_tf`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picsellia_tf._version import __version__
from picsellia_tf.errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    NetworkError,
    NotFoundError,
    PicselliaError,
    RateLimitError,
    RequestTimeout,
    ServerError,
    UnknownProjectError,
    ValidationError,
)

if TYPE_CHECKING:
    from picsellia_tf.callback import PicselliaCallback
    from picsellia_tf.client import Client
    from picsellia_tf.local_platform import LocalPlatform
    from picsellia_tf.types import ImageAnnotation, Label, Rectangle, Shape

_LAZY = {
    "Client": "picsellia_tf.client",
    "PicselliaCallback": "picsellia_tf.callback",
    "LocalPlatform": "picsellia_tf.local_platform",
    "ImageAnnotation": "picsellia_tf.types",
    "Shape": "picsellia_tf.types",
    "Rectangle": "picsellia_tf.types",
    "Label": "picsellia_tf.types",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'picsellia_tf' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "__version__",
    "Client",
    "PicselliaCallback",
    "LocalPlatform",
    "ImageAnnotation",
    "Shape",
    "Rectangle",
    "Label",
    "PicselliaError",
    "ConfigurationError",
    "ValidationError",
    "UnknownProjectError",
    "NetworkError",
    "RequestTimeout",
    "APIError",
    "BadRequestError",
    "AuthenticationError",
    "NotFoundError",
    "ConflictError",
    "RateLimitError",
    "ServerError",
]
