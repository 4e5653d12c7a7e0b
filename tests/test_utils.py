"""Seeding, timing helpers and the bandwidth measurement."""

import random
import time

import numpy as np
import pytest
import torch

from sparsecourse.utils import (
    Timing,
    benchmark,
    compare,
    crossover_density,
    interleaved,
    memory_bandwidth,
    rotation,
    rotation_copies,
    set_seed,
)


def test_set_seed_reproduces_python_numpy_torch():
    set_seed(123)
    a = (random.random(), np.random.rand(), torch.rand(1).item())  # noqa: NPY002
    set_seed(123)
    b = (random.random(), np.random.rand(), torch.rand(1).item())  # noqa: NPY002
    assert a == b
    set_seed(124)
    c = (random.random(), np.random.rand(), torch.rand(1).item())  # noqa: NPY002
    assert c != a


@pytest.mark.parametrize("bad,exc", [(-1, ValueError), (1.5, TypeError), ("1", TypeError),
                                     (True, TypeError), (2**40, ValueError)])
def test_set_seed_rejects_bad_seeds(bad, exc):
    with pytest.raises(exc, match="seed"):
        set_seed(bad)


def test_benchmark_counts_calls_and_rotates_inputs():
    seen = []
    t = benchmark(lambda v: seen.append(v), warmup=2, repeat=5, inputs=[(1,), (2,), (3,)])
    assert isinstance(t, Timing) and len(t.times) == 5
    assert seen == [1, 2, 3, 1, 2, 3, 1]  # 2 warm-up + 5 timed calls, rotating
    assert t.median >= 0 and t.spread >= 0


def test_benchmark_measures_time():
    t = benchmark(time.sleep, 0.01, warmup=0, repeat=3)
    assert 0.009 < t.median < 0.5


def test_benchmark_errors():
    with pytest.raises(TypeError, match="callable"):
        benchmark(42)
    with pytest.raises(ValueError, match="repeat"):
        benchmark(print, repeat=0)
    with pytest.raises(ValueError, match="inputs"):
        benchmark(print, inputs=[])


def test_compare_reports_speedup_of_faster_function():
    r = compare(lambda: time.sleep(0.001), lambda: time.sleep(0.02), warmup=1, repeat=3)
    assert r["speedup"] > 3
    assert len(r["fn"].times) == len(r["baseline"].times) == 3
    with pytest.raises(TypeError, match="baseline"):
        compare(print, None)


def test_memory_bandwidth_is_plausible():
    bw = memory_bandwidth(size_mb=16, repeat=2)
    assert 0.1 < bw < 10_000  # GB/s: between a floppy disk and HBM
    with pytest.raises(ValueError, match="size_mb"):
        memory_bandwidth(size_mb=0)


def test_read_bandwidth_and_bad_kind():
    assert memory_bandwidth(size_mb=16, repeat=2, kind="read") > 0.1
    with pytest.raises(ValueError, match="kind"):
        memory_bandwidth(size_mb=16, kind="write")


def test_interleaved_rotates_order_and_inputs():
    calls = []
    t = interleaved({"a": (lambda v: calls.append(("a", v)) or v, [(1,), (2,)]),
                     "b": lambda: calls.append(("b", None))},
                    rounds=2, warmup=1)
    # warm-up a(1), b; round 0: a(2), b; round 1 starts with b, then a(1)
    assert calls == [("a", 1), ("b", None), ("a", 2), ("b", None), ("b", None), ("a", 1)]
    assert len(t["a"].times) == 2 and t["a"].result == 1


def test_interleaved_blocks_budget_and_slow_contenders():
    t = interleaved({"x": lambda: None}, rounds=3, block=4, warmup=0)
    assert len(t["x"].times) == 12 and t["x"].best_block <= t["x"].median + 1e-3
    t = interleaved({"x": lambda: time.sleep(0.002)}, budget_s=0.05, min_rounds=2, max_rounds=8)
    assert 2 <= len(t["x"].times) <= 8
    n = []
    t = interleaved({"slow": lambda: n.append(time.sleep(0.03))}, rounds=5, slow_s=0.01)
    assert len(n) == 1 and len(t["slow"].times) == 1  # the warm-up call is its one timing
    with pytest.raises(TypeError):
        interleaved({"x": 3})
    with pytest.raises(ValueError):
        interleaved({})


def test_benchmark_budget_bounds_the_repeats():
    fast = benchmark(lambda: None, repeat=4, budget_s=1e-9, max_repeat=9)
    assert len(fast.times) == 4
    many = benchmark(lambda: None, repeat=4, budget_s=10.0, max_repeat=9)
    assert len(many.times) == 9


def test_rotation_copies_some_arguments_only():
    A, x = np.ones(1000), np.ones(10)
    inputs = rotation((A, x), A.nbytes, working_set=3.5 * A.nbytes)
    assert len(inputs) == 4
    assert inputs[0][0] is A and all(a is not A for a, _ in inputs[1:])
    assert all(v is x for _, v in inputs)
    assert rotation_copies(100, llc=1000, cap=5) == 5 and rotation_copies(0, llc=10) == 1


def test_crossover_density():
    assert crossover_density([0.01, 0.1, 1.0], [0.1, 0.5, 2.0], 1.0) == pytest.approx(0.1 ** 0.5)
    assert np.isnan(crossover_density([0.1, 1.0], [2.0, 3.0], 1.0))  # never wins
    assert np.isnan(crossover_density([0.1, 1.0], [0.5, 0.9], 1.0))  # always wins
