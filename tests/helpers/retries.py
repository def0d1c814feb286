"""Retrying through scripted failures without the package's waits: the same retries, each after
the scenario's short backoff instead of up to 0.5 s."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from picsellia_tf._http import Transport

if TYPE_CHECKING:
    from picsellia_tf.client import Client

QUICK_BACKOFF = 0.01
"""The scenario's first retry delay, at most (the package's is ``BACKOFF_BASE``, 0.5 s)."""


def quickly(client: Client) -> Client:
    """``client``, retrying after the scenario's short backoff."""
    client._transport.backoff_base = QUICK_BACKOFF
    return client


def quick_backoff_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every client made during the test (the CLI's own included) retries after the short
    backoff; undone at the test's end."""
    monkeypatch.setattr(Transport, "backoff_base", QUICK_BACKOFF)
