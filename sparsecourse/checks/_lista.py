"""Checks for Chapter 3 (unrolled networks: LISTA, ALISTA, HyperLISTA) and sparse autoencoders."""

from __future__ import annotations

__all__: list[str] = []
