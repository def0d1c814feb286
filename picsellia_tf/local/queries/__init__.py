"""The local platform's SQL: every statement the API handlers run, one module per resource.

Each function takes the request's transaction (a ``sqlite3.Connection``) and returns rows,
values or nothing. None checks who asks or answers HTTP: a handler validates the request, calls
these, and builds its answer (:mod:`picsellia_tf.local.answers`).
"""

# no ``from __future__ import annotations`` here: it would shadow the ``annotations`` module
from picsellia_tf.local.queries import (
    annotations,
    datasets,
    experiments,
    models,
    org,
    projects,
    raw_data,
)

__all__ = ["annotations", "datasets", "experiments", "models", "org", "projects", "raw_data"]
