"""The plotting helpers of chapters 0-3 draw what they are given, and nothing else."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from sparsecourse.plotting import image_grid, plot_curves, plot_rates  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_plot_rates_draws_curves_and_rates_against_the_iteration_number():
    k = np.arange(1, 51)
    gap = np.where(k < 40, 1.0 / k**2, 0.0)       # reaches an exact zero: drawn at the floor
    ax = plot_rates({"FISTA": gap, "short": 1.0 / k[:10]},
                    {"1/k": 1.0 / k, "1/k²": 1.0 / k**2}, floor=1e-12)
    lines = ax.get_lines()
    assert [ln.get_label() for ln in lines] == ["FISTA", "short", "1/k", "1/k²"]
    assert np.array_equal(lines[0].get_xdata(), k)
    assert np.array_equal(lines[1].get_xdata(), np.arange(1, 11))
    assert lines[0].get_ydata()[-1] == 1e-12 and lines[0].get_ydata()[0] == 1.0
    assert [ln.get_linestyle() for ln in lines[2:]] == [":", "--"]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()][2] == "1/k"


def test_plot_rates_on_a_given_axes_with_coloured_rates():
    fig, ax = plt.subplots()
    out = plot_rates({"ISTA": [1.0, 0.5]}, {"bound": [2.0, 1.0]}, ax=ax,
                     rate_colors=["C3"], legend=False)
    assert out is ax and ax.get_legend() is None
    assert matplotlib.colors.same_color(ax.get_lines()[1].get_color(), "C3")


def test_plot_curves_lines_error_bars_and_labels():
    x = np.array([0.1, 0.2, 0.3])
    ax = plot_curves(x, {"a": [1, 2, 3], "b": [3, 2, 1]}, errors={"b": [0.1, 0.2, 0.3]},
                     markers="os", xlabel="rho", title="t", yscale="log")
    lines = ax.get_lines()
    a = next(ln for ln in lines if ln.get_label() == "a")
    assert np.array_equal(a.get_xdata(), x) and a.get_marker() == "o"
    assert len(ax.containers) == 1                  # one errorbar container, for "b"
    b_line = ax.containers[0].lines[0]
    assert np.array_equal(b_line.get_ydata(), [3, 2, 1]) and b_line.get_marker() == "s"
    assert ax.get_xlabel() == "rho" and ax.get_title() == "t" and ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]


def test_plot_curves_without_x_uses_the_index_and_given_colours():
    ax = plot_curves(None, {"hist": [5.0, 4.0, 3.5, 3.0], "other": [1.0, 2.0]},
                     colors=["C3", "k"], legend=False)
    first, second = ax.get_lines()
    assert np.array_equal(first.get_xdata(), np.arange(4))
    assert np.array_equal(second.get_xdata(), np.arange(2))
    assert matplotlib.colors.same_color(first.get_color(), "C3")
    assert matplotlib.colors.same_color(second.get_color(), "k")
    assert ax.get_legend() is None


def test_image_grid_shapes_reshapes_and_switches_off_the_spare_axes():
    imgs = np.arange(5 * 64, dtype=float).reshape(5, 64)
    axes = image_grid(imgs, ncols=3, shape=(8, 8), titles=list("abcde"), suptitle="atoms")
    assert axes.shape == (2, 3)
    shown = [ax for ax in axes.ravel() if ax.get_images()]
    assert len(shown) == 5 and not axes[1, 2].get_images()
    assert np.array_equal(axes[0, 1].get_images()[0].get_array(), imgs[1].reshape(8, 8))
    assert axes[1, 1].get_title() == "e"
    assert axes[0, 0].figure._suptitle.get_text() == "atoms"
    assert not any(ax.axison for ax in axes.ravel())


def test_image_grid_bad_input():
    with pytest.raises(ValueError, match="ncols"):
        image_grid(np.zeros((2, 4, 4)), ncols=0)
    with pytest.raises(ValueError, match="titles"):
        image_grid(np.zeros((2, 4, 4)), ncols=2, titles=["one"])


def test_l1_geometry_figure_draws_the_given_solutions():
    from sparsecourse.plotting import l1_geometry_figure

    a, b = np.array([2.0, 1.0]), 2.0
    x_l1, x_l2 = np.array([1.0, 0.0]), a * b / (a @ a)
    gram, x_ls = np.array([[1.0, 0.3], [0.3, 1.0]]), np.array([1.8, 0.5])
    w_lasso, w_ridge = np.array([1.2, 0.0]), np.array([0.8, 0.4])
    axes = l1_geometry_figure(a, b, x_l1, x_l2, gram, x_ls, w_lasso, w_ridge)
    assert len(axes) == 3
    # left: three unit balls and the two arms of the l0 cross
    assert len(axes[0].get_lines()) == 5
    # middle: the solution line passes through both solutions, drawn as markers
    line = axes[1].get_lines()[0]
    xs, ys = line.get_xdata(), line.get_ydata()
    assert np.allclose(a[0] * xs + a[1] * ys, b)
    points = [ln.get_xydata()[0] for ln in axes[1].get_lines() if ln.get_marker() == "o"]
    assert np.allclose(points, [x_l1, x_l2])
    # right: the LASSO and ridge points, and one filled ball for each
    labels = [ln.get_label() for ln in axes[2].get_lines()]
    assert "LASSO: (1.20, 0.00)" in labels and "ridge: (0.80, 0.40)" in labels
    assert len(axes[2].patches) == 2


def test_sparsity_forms_figure_draws_the_stated_sparsity():
    from sparsecourse.plotting import sparsity_forms_figure

    axes = sparsity_forms_figure(seed=7)
    assert len(axes) == 5
    weights = axes[0].get_images()[0].get_array()
    assert weights.mask.mean() == pytest.approx(0.8, abs=0.01)       # 80% zeros
    code = axes[2].get_images()[0].get_array()
    assert ((~code.mask).sum(axis=1) == 3).all()                      # k = 3 per input
    nonzeros = [ln for ln in axes[3].get_lines() if ln.get_color() == "C3"]
    assert len(nonzeros[0].get_xdata()) == 5                          # 5 of 60
    # router: 6 tokens x 2 experts, one line each, plus the token markers
    assert len(axes[4].get_lines()) == 6 * 2 + 1


def test_csr_figure_shows_the_csr_arrays():
    from sparsecourse.plotting import csr_figure

    M = np.array([[0, 3, 0], [0, 0, 0], [2, 0, 5]], dtype=float)
    axm, axa = csr_figure(M)
    assert axm.get_title() == "A (3 x 3), 3 non-zeros"
    filled = [p for p in axm.patches if p.get_facecolor()[:3] != (1.0, 1.0, 1.0)]
    assert len(axm.patches) == 9 and len(filled) == 3
    texts = [t.get_text() for t in axa.texts]
    # data, indices, indptr, in that order after their labels
    assert texts[texts.index("data") + 1:texts.index("data") + 4] == ["3", "2", "5"]
    assert texts[texts.index("indices") + 1:texts.index("indices") + 4] == ["1", "0", "2"]
    assert texts[texts.index("indptr") + 1:texts.index("indptr") + 5] == ["0", "1", "1", "3"]
    with pytest.raises(ValueError, match="at most 10 rows"):
        csr_figure(np.eye(11))
