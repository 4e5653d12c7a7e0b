"""Dictionary learning: MOD, K-SVD, online learning and predictive sparse decomposition."""

from __future__ import annotations

__all__: list[str] = []
