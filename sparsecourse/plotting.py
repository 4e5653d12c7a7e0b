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

__all__ += ["csr_figure", "image_grid", "l1_geometry_figure", "plot_curves", "plot_rates",
            "sparsity_forms_figure"]


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


def plot_curves(x, curves, *, errors=None, ax=None, markers="o", colors=None, ms=4,
                legend=True, figsize=(6.5, 4), **set_kw):
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
    colors : sequence of str, optional
        One colour per curve (the colour cycle if None), e.g. to keep a method's colour
        from figure to figure.
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
        kw = {"marker": markers[i % len(markers)], "ms": ms, "label": label}
        if colors is not None:
            kw["color"] = colors[i]
        if label in errors:
            ax.errorbar(xs, y, yerr=errors[label], capsize=3, **kw)
        else:
            ax.plot(xs, y, **kw)
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


def l1_geometry_figure(a_vec, b_val, x_l1, x_l2, gram, x_ls, w_lasso, w_ridge, *,
                       figsize=(14, 4.7)):
    """Chapter 1's opening figure: why the l1 ball gives sparse solutions, in two dimensions.

    Three panels: the unit balls of l2, l1, l1/2 and the 1-sparse vectors; the minimum-l2 and
    minimum-l1 solutions of one equation ``a^T x = b`` with the smallest balls that touch its
    solution line; least-squares level sets against the LASSO's l1 ball and ridge's l2 ball.
    The solutions are computed by the caller (the chapter checks them); this function only
    draws.

    Parameters
    ----------
    a_vec, b_val : ndarray of shape (2,), float
        The equation ``a_vec @ x = b_val`` of the middle panel.
    x_l1, x_l2 : ndarray of shape (2,)
        Its minimum-l1 and minimum-l2 solutions.
    gram : ndarray of shape (2, 2)
        The matrix ``G`` of the least-squares loss ``0.5 (w - x_ls)^T G (w - x_ls)``.
    x_ls : ndarray of shape (2,)
        The least-squares solution.
    w_lasso, w_ridge : ndarray of shape (2,)
        The LASSO and ridge solutions drawn on the right panel.
    figsize : tuple
        Figure size in inches.

    Returns
    -------
    numpy.ndarray of matplotlib.axes.Axes
        The three axes.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 3, figsize=figsize)
    t = np.linspace(0, 2 * np.pi, 721)
    cos, sin = np.cos(t), np.sin(t)
    diamond = np.array([1, 0, -1, 0, 1]), np.array([0, 1, 0, -1, 0])

    ax = axes[0]                                     # (a) unit balls
    for p, col, lab in [(2, "C0", r"$\ell_2$"), (1, "C3", r"$\ell_1$"),
                        (0.5, "C2", r"$\ell_{1/2}$")]:
        r = (np.abs(cos) ** p + np.abs(sin) ** p) ** (-1 / p)
        ax.plot(r * cos, r * sin, color=col, label=f"{lab} unit ball")
    ax.plot([-1, 1], [0, 0], color="k", lw=3, label=r"$\ell_0$: 1-sparse, $|x_i| \leq 1$")
    ax.plot([0, 0], [-1, 1], color="k", lw=3)
    ax.set(aspect="equal", xlim=(-1.4, 1.4), ylim=(-1.4, 1.4),
           title="Unit balls: corners on the axes for p <= 1")

    ax = axes[1]                                     # (b) one equation, two unknowns
    xx = np.linspace(-1.5, 2.5, 10)
    ax.plot(xx, (b_val - a_vec[0] * xx) / a_vec[1], "k-", label=r"solutions of $a^\top x = b$")
    r1 = np.abs(x_l1).sum()
    ax.plot(r1 * diamond[0], r1 * diamond[1], "C3", label=r"smallest $\ell_1$ ball")
    r2 = np.linalg.norm(x_l2)
    ax.plot(r2 * cos, r2 * sin, "C0", label=r"smallest $\ell_2$ ball")
    for pt, col, name in [(x_l1, "C3", r"min $\ell_1$"), (x_l2, "C0", r"min $\ell_2$")]:
        ax.plot(*pt, "o", color=col, ms=8)
        ax.annotate(f"{name}: ({pt[0]:.2g}, {pt[1]:.2g})", pt, xytext=(10, 8),
                    textcoords="offset points", color=col)
    ax.set(aspect="equal", xlim=(-1.4, 2.2), ylim=(-1.4, 2.2), title="One equation, two unknowns")

    ax = axes[2]                                     # (c) LASSO against ridge

    def ls_loss(w):
        d = w - x_ls
        return 0.5 * d @ gram @ d

    g1, g2 = np.meshgrid(np.linspace(-1.5, 3, 300), np.linspace(-1.5, 3, 300))
    D = np.stack([g1 - x_ls[0], g2 - x_ls[1]], axis=-1)
    F = 0.5 * np.einsum("...i,ij,...j->...", D, gram, D)
    ax.contour(g1, g2, F, levels=sorted([0.05, ls_loss(w_ridge), ls_loss(w_lasso)]),
               colors="0.55", linewidths=0.8)
    ax.plot(*x_ls, "k+", ms=10)
    ax.annotate("least squares", x_ls, xytext=(6, 6), textcoords="offset points", fontsize=8)
    r1 = np.abs(w_lasso).sum()
    ax.fill(r1 * diamond[0][:4], r1 * diamond[1][:4], color="C3", alpha=0.25,
            label=r"$\|x\|_1 \leq t$")
    ax.fill(np.linalg.norm(w_ridge) * cos, np.linalg.norm(w_ridge) * sin, color="C0",
            alpha=0.2, label=r"$\|x\|_2 \leq r$")
    ax.plot(*w_lasso, "o", color="C3", label=f"LASSO: ({w_lasso[0]:.2f}, {w_lasso[1]:.2f})")
    ax.plot(*w_ridge, "o", color="C0", label=f"ridge: ({w_ridge[0]:.2f}, {w_ridge[1]:.2f})")
    ax.set(aspect="equal", xlim=(-1.5, 2.6), ylim=(-1.5, 2.6), title="LASSO against ridge")
    for ax in axes[1:]:
        ax.axhline(0, color="0.85", lw=0.8)
        ax.axvline(0, color="0.85", lw=0.8)
    for ax in axes:
        ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return axes


def _show_sparse(ax, Z, cmap, **kw):
    # zeros drawn white, non-zeros in colour, with a faint grid of the matrix cells
    import matplotlib.pyplot as plt
    import numpy as np

    cm = plt.get_cmap(cmap).with_extremes(bad="white")
    ax.imshow(np.ma.masked_equal(Z, 0), cmap=cm, aspect="auto", interpolation="nearest", **kw)
    r, c = Z.shape
    ax.set_xticks(np.arange(-0.5, c, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, r, 1), minor=True)
    ax.grid(which="minor", color="0.88", linewidth=0.5)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)


def sparsity_forms_figure(seed=7, *, figsize=(15, 3.4)):
    """Chapter 0's opening figure: five forms of sparsity, drawn from synthetic data.

    Weights (magnitude pruning keeps the largest 20%), activations (ReLU of shifted Gaussian
    pre-activations), representations (a TopK code with 3 active latents per input), a
    sparse signal (5 non-zeros out of 60), and conditional computation (6 tokens, each routed
    to its top 2 of 8 experts; grey experts receive no token, marker size grows with load).

    Parameters
    ----------
    seed : int
        Seed of the synthetic data.
    figsize : tuple
        Figure size in inches.

    Returns
    -------
    numpy.ndarray of matplotlib.axes.Axes
        The five axes, left to right.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    g = np.random.default_rng(seed)
    fig, axes = plt.subplots(1, 5, figsize=figsize)
    # (1) weights: keep the 20% of largest magnitude
    Wf = g.standard_normal((12, 12))
    Wp = np.where(np.abs(Wf) >= np.quantile(np.abs(Wf), 0.8), Wf, 0.0)
    _show_sparse(axes[0], Wp, "RdBu_r", vmin=-3, vmax=3)
    axes[0].set(title="Weights\nmagnitude-pruned, 80% zeros", xlabel="input", ylabel="output")
    # (2) activations: ReLU of shifted pre-activations, rows = tokens
    H = np.maximum(g.standard_normal((10, 24)) - 1.0, 0.0)
    _show_sparse(axes[1], H, "Oranges", vmin=0)
    axes[1].set(title="Activations\nReLU: most units are off", xlabel="hidden unit",
                ylabel="token")
    # (3) representations: TopK code, exactly k = 3 active latents per input
    Z = np.zeros((10, 24))
    for row in Z:
        row[g.choice(24, size=3, replace=False)] = g.uniform(0.5, 2.0, size=3)
    _show_sparse(axes[2], Z, "Purples", vmin=0)
    axes[2].set(title="Representations\nTopK code, k = 3 per input", xlabel="latent",
                ylabel="input")
    # (4) sparse signal: 5 non-zero coefficients out of 60
    beta = np.zeros(60)
    beta[g.choice(60, size=5, replace=False)] = (g.choice([-1, 1], size=5)
                                                 * g.uniform(1, 2, size=5))
    ax = axes[3]
    ax.axhline(0, color="0.7", linewidth=0.8)
    nz = np.flatnonzero(beta)
    ax.vlines(nz, 0, beta[nz], color="C3")
    ax.plot(nz, beta[nz], "o", color="C3", markersize=5)
    ax.plot(np.flatnonzero(beta == 0), np.zeros(55), ".", color="0.6", markersize=3)
    ax.set(title="Sparse signals\n5 non-zeros out of 60", xlabel="coefficient index",
           yticks=[])
    # (5) conditional computation: 6 tokens, each sent to its top-2 of 8 experts
    ax = axes[4]
    n_tok, n_exp = 6, 8
    logits = g.standard_normal((n_tok, n_exp))
    top2 = np.argsort(-logits, axis=1)[:, :2]
    ty = np.linspace(0.1, 0.9, n_tok)
    ey = np.linspace(0.0, 1.0, n_exp)
    load = np.bincount(top2.ravel(), minlength=n_exp)
    for t in range(n_tok):
        for e in top2[t]:
            ax.plot([0.1, 0.9], [ty[t], ey[e]], color="C0", alpha=0.6, linewidth=1.2)
    ax.plot(np.full(n_tok, 0.1), ty, "s", color="C0", markersize=8)
    ax.scatter(np.full(n_exp, 0.9), ey, s=60 + 60 * load, c=np.where(load > 0, "C2", "0.8"),
               zorder=3, edgecolors="k", linewidths=0.5)
    ax.text(0.1, 1.02, "tokens", ha="center", va="bottom", fontsize=9)
    ax.text(0.9, 1.07, "experts", ha="center", va="bottom", fontsize=9)
    ax.set(xlim=(-0.05, 1.05), ylim=(-0.08, 1.16),
           title="Conditional computation\neach token uses 2 of 8 experts")
    ax.axis("off")
    fig.tight_layout()
    return axes


def csr_figure(M, *, figsize=(11, 2.8)):
    """A small dense matrix beside its three CSR arrays, entries coloured by row.

    Parameters
    ----------
    M : array_like of shape (m, n)
        A small matrix (at most 10 rows: one colour of the cycle per row).
    figsize : tuple
        Figure size in inches.

    Returns
    -------
    tuple of matplotlib.axes.Axes
        The matrix's axes and the arrays' axes.
    """
    import matplotlib.pyplot as plt
    import numpy as np
    import scipy.sparse as sp

    M = np.asarray(M)
    if M.ndim != 2 or M.shape[0] > 10:
        raise ValueError(f"M: expected a 2-D array with at most 10 rows, got shape {M.shape}")
    A = sp.csr_array(M)
    m_rows, m_cols = M.shape
    row_colors = [f"C{i}" for i in range(m_rows)]
    fig, (axm, axa) = plt.subplots(1, 2, figsize=figsize,
                                   gridspec_kw={"width_ratios": [1, 1.5]})
    # the matrix, non-zeros coloured by row
    for i in range(m_rows):
        for j in range(m_cols):
            nzv = M[i, j] != 0
            axm.add_patch(plt.Rectangle((j, -i - 1), 1, 1,
                                        facecolor=row_colors[i] if nzv else "white",
                                        alpha=0.35 if nzv else 1, edgecolor="0.6"))
            if nzv:
                axm.text(j + 0.5, -i - 0.5, f"{M[i, j]:g}", ha="center", va="center")
    for j in range(m_cols):
        axm.text(j + 0.5, 0.15, str(j), ha="center", va="bottom", fontsize=8, color="0.4")
    for i in range(m_rows):
        axm.text(-0.15, -i - 0.5, f"row {i}", ha="right", va="center", fontsize=8,
                 color="0.4")
    axm.set(xlim=(-1.2, m_cols + 0.1), ylim=(-m_rows - 0.2, 0.8),
            title=f"A ({m_rows} x {m_cols}), {A.nnz} non-zeros")
    axm.axis("off")

    def draw_array(y, values, colors, label):
        axa.text(-0.3, y + 0.5, label, ha="right", va="center", family="monospace")
        for k, (val, col) in enumerate(zip(values, colors, strict=True)):
            axa.add_patch(plt.Rectangle((k, y), 1, 1, facecolor=col, alpha=0.35,
                                        edgecolor="0.4"))
            axa.text(k + 0.5, y + 0.5, f"{val:g}", ha="center", va="center")

    row_of = np.repeat(np.arange(m_rows), np.diff(A.indptr))
    entry_colors = [row_colors[r] for r in row_of]
    draw_array(0.0, A.data, entry_colors, "data")
    draw_array(1.3, A.indices, entry_colors, "indices")
    draw_array(3.2, A.indptr, ["white"] * (m_rows + 1), "indptr")
    for i, start in enumerate(A.indptr):
        axa.annotate("", xy=(start, 2.3), xytext=(i + 0.5, 3.2),
                     arrowprops={"arrowstyle": "->", "color": "0.35", "linewidth": 0.8})
    axa.text(A.nnz - 0.6, 3.7, "row i is stored at positions\nindptr[i] to indptr[i+1] - 1",
             va="center", fontsize=9)
    axa.set(xlim=(-1.8, A.nnz + 2.6), ylim=(-0.2, 4.4), title="its CSR arrays")
    axa.axis("off")
    fig.tight_layout()
    return axm, axa



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
