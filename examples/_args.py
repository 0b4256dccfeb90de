"""Argument types the examples share (each example runs as a script: this sits beside it)."""

from __future__ import annotations

import argparse


def jobs_count(text: str) -> int:
    """A count of at least 1 (an empty history, or sample, leaves nothing to show)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value
