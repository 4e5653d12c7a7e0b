"""Plotting helpers shared by the chapters.

The figures of the book are part of its argument, but the matplotlib code behind them is not
the lesson. The few patterns that recur across chapters (a measured curve against a theoretical
rate, a speed-up against a target line, a grid of image atoms, a phase diagram) live here, so a
notebook cell reads as "what is plotted", and the chapter page folds the rest away.

Every helper takes a matplotlib ``Axes`` (or creates one), draws on it and returns it, so a
notebook can still add its own labels and annotations.
"""

from __future__ import annotations

__all__: list[str] = []


# ---------------------------------------------------------------------------------------------
# Helpers first used by chapters 0-3
# ---------------------------------------------------------------------------------------------



# (keep this gap: the two sections are filled independently)



# ---------------------------------------------------------------------------------------------
# Helpers first used by chapters 4-5
# ---------------------------------------------------------------------------------------------
