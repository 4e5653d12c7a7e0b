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

__all__ += ["bars_over_seeds", "errorbar_over_seeds"]


def _mean_sd(values, ddof: int):
    """Mean and standard deviation over axis 0, ignoring NaN (settings a run did not reach)."""
    import warnings

    import numpy as np

    v = np.asarray(values, dtype=float)
    if v.ndim == 0 or v.shape[0] == 0:
        raise ValueError(f"each entry needs at least one seed (a non-empty axis 0), got shape "
                         f"{v.shape}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # all-NaN columns stay NaN
        return np.nanmean(v, axis=0), np.nanstd(v, axis=0, ddof=ddof)


def errorbar_over_seeds(ax, x, runs, *, styles=None, ddof: int = 0, **kwargs):
    """Draw one error-bar curve per entry of ``runs``: the mean over seeds, ± one sd.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    x : array_like, shape (n,)
        The swept setting (density, interpolation coefficient, ...), shared by all curves.
    runs : mapping of str to array_like, shape (n_seeds, n)
        One row per seed; NaN marks a setting a run did not reach (ignored in mean and sd).
    styles : mapping of str to dict, optional
        Keyword arguments of ``ax.errorbar`` per label (``color``, ``marker``, ``ls``, ...).
    ddof : int
        Delta degrees of freedom of the standard deviation (0: population sd).
    **kwargs
        Passed to every ``ax.errorbar`` call (before the per-label ``styles``).

    Returns
    -------
    matplotlib.axes.Axes
        ``ax``, with one container per entry, labelled for a legend.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> ax = errorbar_over_seeds(plt.figure().gca(), [1, 2], {"a": [[0.5, 0.7], [0.7, 0.9]]})
    >>> ax.lines[0].get_ydata().tolist()
    [0.6, 0.8]
    """
    styles = {} if styles is None else styles
    for label, values in runs.items():
        mean, sd = _mean_sd(values, ddof)
        if mean.shape != (len(x),):
            raise ValueError(f"runs[{label!r}] must have one column per x value ({len(x)}), "
                             f"got shape {mean.shape}")
        style = {"marker": "o", "capsize": 3, **kwargs, **styles.get(label, {})}
        ax.errorbar(x, mean, yerr=sd, label=label, **style)
    return ax


def bars_over_seeds(ax, runs, *, ddof: int = 0, colors=None, **kwargs):
    """Draw one bar per entry of ``runs``: the mean over seeds, with a ± one sd error bar.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    runs : mapping of str to array_like, shape (n_seeds,)
        The measured value of each seed, one entry (bar) per method; the keys label the bars.
    ddof : int
        Delta degrees of freedom of the standard deviation (0: population sd).
    colors : sequence of colors, optional
        One per bar; default the colour cycle ``C0, C1, ...``.
    **kwargs
        Passed to ``ax.bar`` (``capsize`` defaults to 4).

    Returns
    -------
    matplotlib.axes.Axes
        ``ax``, with the bars in ``ax.patches``.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> ax = bars_over_seeds(plt.figure().gca(), {"a": [0.8, 1.0], "b": [0.5, 0.5]})
    >>> [round(float(p.get_height()), 3) for p in ax.patches]
    [0.9, 0.5]
    """
    if len(runs) == 0:
        raise ValueError("runs must have at least one entry")
    labels = list(runs)
    stats = [_mean_sd(runs[k], ddof) for k in labels]
    for k, (m, _) in zip(labels, stats, strict=True):
        if m.ndim != 0:
            raise ValueError(f"runs[{k!r}] must be one value per seed (1-D), got {m.ndim + 1}-D")
    if colors is None:
        colors = [f"C{i % 10}" for i in range(len(labels))]
    kwargs.setdefault("capsize", 4)
    ax.bar(labels, [float(m) for m, _ in stats], yerr=[float(s) for _, s in stats],
           color=colors, **kwargs)
    return ax
