"""Sparse autoencoders: ReLU + L1, TopK (AuxK loss), Mutual Choice and Feature Choice."""

from __future__ import annotations

__all__: list[str] = []
