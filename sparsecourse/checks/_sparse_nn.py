"""Checks for Chapter 4, second part (truly sparse training with CSR kernels)."""

from __future__ import annotations

__all__: list[str] = []
