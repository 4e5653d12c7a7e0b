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


def test_plot_curves_without_x_uses_the_index():
    ax = plot_curves(None, {"hist": [5.0, 4.0, 3.5, 3.0]}, legend=False)
    assert np.array_equal(ax.get_lines()[0].get_xdata(), np.arange(4))
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
