"""Unrolled networks: LISTA, LISTA-CP/SS, ALISTA and HyperLISTA, with layer-wise training."""

from __future__ import annotations

__all__: list[str] = []
