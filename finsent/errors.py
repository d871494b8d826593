"""Errors shared by the stages."""

from __future__ import annotations


class SetupError(RuntimeError):
    """A stage cannot start (missing model, unusable input); the message names the cause."""
