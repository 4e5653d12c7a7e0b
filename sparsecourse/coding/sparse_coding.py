"""Batched sparse coding: ISTA/FISTA in torch and a numba CPU path."""

from __future__ import annotations

__all__: list[str] = []
