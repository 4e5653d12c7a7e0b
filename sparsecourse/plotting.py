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

__all__ += ["image_grid", "plot_curves", "plot_rates"]


def _axes(ax, figsize):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_rates(curves, rates=None, *, ax=None, floor=1e-16, rate_colors=None, legend=True,
               figsize=(6.5, 4)):
    """Measured convergence curves against reference rates, on log-log axes.

    Each sequence is drawn against its iteration number ``1, 2, ..., len``; measured values
    below ``floor`` (an exact zero, say) are drawn at ``floor`` so the log axis keeps them.

    Parameters
    ----------
    curves : dict of str to array_like
        Measured quantity per iteration (an objective gap, an error), by legend label; drawn
        as solid lines in the colour cycle.
    rates : dict of str to array_like, optional
        Reference rates or bounds (``1/k``, ``L R^2 / 2k``), by label; drawn dotted, dashed,
        dash-dotted in turn.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure of size ``figsize`` if None.
    floor : float
        Smallest value drawn.
    rate_colors : sequence of str, optional
        One colour per rate (grey if None), e.g. to match each bound to its curve.
    legend : bool
        Draw a legend (font size 8).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import numpy as np
    >>> k = np.arange(1, 101)
    >>> ax = plot_rates({"gap": 1 / k**2}, {"1/k": 1 / k})
    >>> len(ax.get_lines())
    2
    """
    import numpy as np

    ax = _axes(ax, figsize)
    for label, values in curves.items():
        y = np.maximum(np.asarray(values, dtype=float), floor)
        ax.loglog(np.arange(1, y.size + 1), y, label=label)
    styles = [":", "--", "-."]
    for i, (label, values) in enumerate((rates or {}).items()):
        y = np.asarray(values, dtype=float)
        color = "0.5" if rate_colors is None else rate_colors[i]
        ax.loglog(np.arange(1, y.size + 1), y, styles[i % 3], color=color, lw=1, label=label)
    ax.grid(alpha=0.3, which="major")
    if legend:
        ax.legend(fontsize=8)
    return ax


def plot_curves(x, curves, *, errors=None, ax=None, markers="o", ms=4, legend=True,
                figsize=(6.5, 4), **set_kw):
    """Several named curves over one x axis, with markers and optional error bars.

    Parameters
    ----------
    x : array_like or None
        The common x values; None draws each curve against ``0, 1, ..., len - 1``.
    curves : dict of str to array_like
        y values by legend label, in the colour cycle.
    errors : dict of str to array_like, optional
        Error bar half-widths (a standard error, say) for some or all of the curves.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure of size ``figsize`` if None.
    markers : str or sequence of str
        One marker per curve, used in turn (``"os^"``), or one for all.
    ms : float
        Marker size.
    legend : bool
        Draw a legend (font size 8).
    **set_kw
        Passed to ``ax.set`` (``xlabel``, ``ylabel``, ``title``, ``xscale``, ...).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> ax = plot_curves([1, 2, 3], {"a": [3, 2, 1], "b": [1, 2, 3]}, xlabel="layer")
    >>> len(ax.get_lines()), ax.get_xlabel()
    (2, 'layer')
    """
    import numpy as np

    ax = _axes(ax, figsize)
    errors = errors or {}
    for i, (label, values) in enumerate(curves.items()):
        y = np.asarray(values, dtype=float)
        xs = np.arange(y.size) if x is None else np.asarray(x)
        mk = markers[i % len(markers)]
        if label in errors:
            ax.errorbar(xs, y, yerr=errors[label], marker=mk, ms=ms, capsize=3, label=label)
        else:
            ax.plot(xs, y, marker=mk, ms=ms, label=label)
    ax.set(**set_kw)
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(fontsize=8)
    return ax


def image_grid(images, ncols, *, shape=None, titles=None, cmap="gray", vmin=None, vmax=None,
               figsize=None, suptitle=None):
    """Images (dictionary atoms, patches, digits) in a grid of axes without ticks.

    Parameters
    ----------
    images : sequence of array_like
        The images, filled row by row; a flat vector is reshaped to ``shape``.
    ncols : int
        Images per row; the number of rows is ``ceil(len(images) / ncols)``.
    shape : tuple of int, optional
        Shape of one image when the images are flat vectors (``(8, 8)`` for 64 pixels).
    titles : sequence of str, optional
        One title per image (font size 10).
    cmap, vmin, vmax
        Passed to ``imshow``.
    figsize : tuple, optional
        Figure size; ``(1.6 * ncols, 1.6 * nrows)`` inches if None.
    suptitle : str, optional
        A title over the whole figure.

    Returns
    -------
    numpy.ndarray of matplotlib.axes.Axes
        The axes, of shape ``(nrows, ncols)``; axes beyond the last image are switched off.

    Examples
    --------
    >>> import numpy as np
    >>> axes = image_grid(np.eye(64)[:6], ncols=3, shape=(8, 8))
    >>> axes.shape
    (2, 3)
    """
    import matplotlib.pyplot as plt
    import numpy as np

    images = list(images)
    if ncols < 1 or not images:
        raise ValueError(f"image_grid needs ncols >= 1 and at least one image, got "
                         f"ncols={ncols} and {len(images)} images")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"titles: expected {len(images)} titles, got {len(titles)}")
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(nrows, ncols, squeeze=False,
                             figsize=figsize or (1.6 * ncols, 1.6 * nrows))
    for i, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if i >= len(images):
            continue
        img = np.asarray(images[i])
        ax.imshow(img.reshape(shape) if shape is not None else img, cmap=cmap, vmin=vmin,
                  vmax=vmax)
        if titles is not None:
            ax.set_title(titles[i], fontsize=10)
    if suptitle is not None:
        fig.suptitle(suptitle)
    return axes



# (keep this gap: the two sections are filled independently)



# ---------------------------------------------------------------------------------------------
# Helpers first used by chapters 4-5
# ---------------------------------------------------------------------------------------------
