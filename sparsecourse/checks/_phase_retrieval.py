"""Checks for Chapter 2 (sparse phase retrieval)."""

from __future__ import annotations

__all__: list[str] = []
