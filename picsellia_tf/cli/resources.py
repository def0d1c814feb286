"""picsellia-tf commands: resources (placeholder until its owner fills it in)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this module's commands."""
