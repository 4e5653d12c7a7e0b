"""Checks for Chapter 4 (lottery tickets, pruning and truly sparse training)."""

from __future__ import annotations

__all__: list[str] = []
