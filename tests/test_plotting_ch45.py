"""Tests of the plotting helpers of chapters 4-5 (sparsecourse.plotting)."""

import doctest

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sparsecourse import plotting  # noqa: E402
from sparsecourse.plotting import bars_over_seeds, errorbar_over_seeds  # noqa: E402


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def test_errorbar_over_seeds_draws_mean_and_sd(ax):
    runs = {"a": [[0.5, 0.6, np.nan], [0.7, 0.8, 0.9]], "b": [[1.0, 2.0, 3.0]]}
    out = errorbar_over_seeds(ax, [1, 2, 4], runs, styles={"b": {"color": "k", "ls": ":"}})
    assert out is ax
    assert len(ax.containers) == 2
    a, b = ax.containers
    data_a, _, (bars_a,) = a
    np.testing.assert_allclose(np.asarray(data_a.get_xdata(), float), [1, 2, 4])
    # the mean ignores the NaN of the first seed's last point
    np.testing.assert_allclose(np.asarray(data_a.get_ydata(), float), [0.6, 0.7, 0.9])
    # the error bars span mean ± sd: the first point 0.6 ± 0.1, the third 0.9 ± 0
    seg = bars_a.get_segments()
    np.testing.assert_allclose([s[:, 1] for s in seg], [[0.5, 0.7], [0.6, 0.8], [0.9, 0.9]])
    assert b[0].get_linestyle() == ":" and b[0].get_color() == "k"
    assert [t.get_text() for t in ax.legend().get_texts()] == ["a", "b"]


def test_errorbar_over_seeds_ddof(ax):
    errorbar_over_seeds(ax, [0], {"a": [[0.0], [2.0]]}, ddof=1)
    (seg,) = ax.containers[0][2][0].get_segments()
    np.testing.assert_allclose(seg[:, 1], [1 - np.sqrt(2), 1 + np.sqrt(2)])


def test_errorbar_over_seeds_bad_shape(ax):
    with pytest.raises(ValueError, match="one column per x value"):
        errorbar_over_seeds(ax, [1, 2], {"a": [[0.5, 0.6, 0.7]]})
    with pytest.raises(ValueError, match="at least one seed"):
        errorbar_over_seeds(ax, [1, 2], {"a": np.zeros((0, 2))})


def test_bars_over_seeds_heights_errors_colors(ax):
    runs = {"x": [0.8, 1.0], "y": [0.2, 0.4, 0.6]}
    out = bars_over_seeds(ax, runs, ddof=1, colors=["C3", "0.5"])
    assert out is ax
    assert [round(float(p.get_height()), 6) for p in ax.patches] == [0.9, 0.4]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x", "y"]
    (seg_x, seg_y) = ax.containers[0][2][0].get_segments()   # the error bars, then the bars
    np.testing.assert_allclose(seg_x[:, 1], [0.9 - np.sqrt(0.02), 0.9 + np.sqrt(0.02)])
    np.testing.assert_allclose(seg_y[:, 1], [0.2, 0.6])
    assert matplotlib.colors.same_color(ax.patches[1].get_facecolor(), "0.5")


def test_bars_over_seeds_bad_input(ax):
    with pytest.raises(ValueError, match="at least one entry"):
        bars_over_seeds(ax, {})
    with pytest.raises(ValueError, match="one value per seed"):
        bars_over_seeds(ax, {"a": [[1.0, 2.0]]})


@pytest.mark.parametrize("name", ["bars_over_seeds", "errorbar_over_seeds"])
def test_doctests(name):
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner()
    tests = finder.find(getattr(plotting, name), name, globs=dict(vars(plotting)))
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    plt.close("all")
    assert result.failed == 0 and result.attempted > 0
