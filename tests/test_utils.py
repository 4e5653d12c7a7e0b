"""Seeding, timing helpers and the bandwidth measurement."""

import random
import time

import numpy as np
import pytest
import torch

from sparsecourse.utils import Timing, benchmark, compare, memory_bandwidth, set_seed


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
