"""The chapters' "paper vs. this book" tables: each claim with a verdict computed from data.

Every chapter ends its experiments with a table whose rows are a paper, the claim in the words of
its abstract, what this book measured, and a verdict. The verdict is never typed in: the notebook
computes it with :func:`verdict` from the measured numbers, so a claim that stops reproducing
after a change shows up in the table (and in the chapter's asserts).
"""

from __future__ import annotations

import re

import numpy as np

__all__ = ["VERDICTS", "claims_table", "verdict"]

VERDICTS = ("reproduced", "partly reproduced", "not reproduced", "not tested here")
COLUMNS = ("paper", "paper says", "this book (measured above)", "verdict")


def verdict(full: bool, partial: bool = False) -> str:
    """``"reproduced"`` if ``full``, else ``"partly reproduced"`` if ``partial``, else
    ``"not reproduced"``.

    Parameters
    ----------
    full : bool
        The measurement meets the claim as the paper states it (at this book's scale).
    partial : bool
        The measurement meets a weaker form of it (the right direction but not the size, or
        one of two parts of the claim).

    Examples
    --------
    >>> verdict(3.1 > 3.0), verdict(2.0 > 3.0, partial=2.0 > 1.0), verdict(False)
    ('reproduced', 'partly reproduced', 'not reproduced')
    """
    for name, value in (("full", full), ("partial", partial)):
        if not isinstance(value, (bool, int, np.bool_)):
            raise TypeError(f"{name} must be a bool (a measured comparison), got "
                            f"{type(value).__name__}")
    if full:
        return VERDICTS[0]
    return VERDICTS[1] if partial else VERDICTS[2]


def claims_table(rows, *, columns=COLUMNS):
    """A styled pandas table of ``(paper, paper says, measured, verdict)`` rows.

    Citation keys written as `` {key}`` in the paper column are dropped from the display (they
    are for the reader of the source). Each verdict must be one of ``VERDICTS``.

    Returns
    -------
    pandas.io.formats.style.Styler
        Left-aligned, without the index; ``.data`` is the DataFrame.
    """
    try:
        import pandas as pd
    except ImportError as e:  # pandas comes with the notebooks extra
        raise ImportError("claims_table needs pandas: pip install 'sparsecourse[notebooks]'") \
            from e
    rows = [tuple(r) for r in rows]
    for r in rows:
        if len(r) != len(columns):
            raise ValueError(f"each row needs {len(columns)} entries {columns}, got {r!r}")
        if r[-1] not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {r[-1]!r}")
    df = pd.DataFrame(rows, columns=list(columns))
    df[columns[0]] = [re.sub(r" \{[^}]*\}", "", str(p)) for p in df[columns[0]]]
    return df.style.hide(axis="index").set_properties(
        **{"text-align": "left", "vertical-align": "top"})
