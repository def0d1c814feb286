"""picsellia_tf: TensorFlow/Keras training on the Picsellia platform.

``Client`` talks to the platform's API; ``PicselliaCallback`` streams a ``model.fit`` run to it;
``LocalPlatform`` runs the same API locally. ``ImageAnnotation``, ``Shape``, ``Rectangle`` and
``Label`` (from :mod:`picsellia_tf.types`) are what annotations and labels are made of. Heavy
parts (Keras, the local server) load only when first used, so ``import picsellia_tf`` stays
light.
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
from picsellia_tf.types import ImageAnnotation, Label, Rectangle, Shape

if TYPE_CHECKING:
    from picsellia_tf.callback import PicselliaCallback
    from picsellia_tf.client import Client
    from picsellia_tf.local_platform import LocalPlatform

_LAZY = {
    "Client": "picsellia_tf.client",
    "PicselliaCallback": "picsellia_tf.callback",
    "LocalPlatform": "picsellia_tf.local_platform",
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
