"""Endpoint wrappers, one module per section of the platform's v1 reference.

Each method is a few lines over the transport's ``request`` (:class:`picsellia_tf._http.Transport`)
and :mod:`picsellia_tf.wire`; arguments are checked before any request is sent.
"""

from __future__ import annotations

from picsellia_tf.api.account import Account
from picsellia_tf.api.annotations import Annotations
from picsellia_tf.api.datasets import Datasets
from picsellia_tf.api.experiments import Experiments
from picsellia_tf.api.models import Models
from picsellia_tf.api.projects import Projects

__all__ = ["Account", "Annotations", "Datasets", "Experiments", "Models", "Projects"]
