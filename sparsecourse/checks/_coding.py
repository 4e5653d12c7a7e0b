"""Checks for Chapter 3 (sparse coding and LISTA)."""

from __future__ import annotations

__all__: list[str] = []
