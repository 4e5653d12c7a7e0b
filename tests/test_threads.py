"""Thread pools sized to the CPUs the process may use (sparsecourse/_threads.py)."""

import os
import subprocess
import sys

import pytest

from sparsecourse import _threads, available_cpus, configure_threads


def test_cgroup_v2_quota(tmp_path, monkeypatch):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    monkeypatch.setattr(_threads, "_own_cgroup_dirs", lambda: [tmp_path])
    monkeypatch.delenv("SPARSECOURSE_NUM_THREADS", raising=False)
    assert _threads._cgroup_cpu_quota() == pytest.approx(1.5)
    assert available_cpus() == 1  # a second thread would be throttled


def test_cgroup_v1_quota_and_the_smallest_of_nested_groups(tmp_path, monkeypatch):
    child, parent = tmp_path / "child", tmp_path
    child.mkdir()
    (child / "cpu.cfs_quota_us").write_text("-1\n")  # no quota of its own
    (child / "cpu.cfs_period_us").write_text("100000\n")
    (parent / "cpu.max").write_text("50000 100000\n")  # half a CPU above it
    monkeypatch.setattr(_threads, "_own_cgroup_dirs", lambda: [child, parent])
    monkeypatch.delenv("SPARSECOURSE_NUM_THREADS", raising=False)
    assert _threads._cgroup_cpu_quota() == pytest.approx(0.5)
    assert available_cpus() == 1


def test_no_quota_means_the_affinity_mask(monkeypatch, tmp_path):
    (tmp_path / "cpu.max").write_text("max 100000\n")
    monkeypatch.setattr(_threads, "_own_cgroup_dirs", lambda: [tmp_path])
    monkeypatch.delenv("SPARSECOURSE_NUM_THREADS", raising=False)
    assert _threads._cgroup_cpu_quota() is None
    assert available_cpus() == len(os.sched_getaffinity(0))


def test_affinity_mask_is_respected():
    code = "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})\n" \
           "from sparsecourse import available_cpus; print(available_cpus())"
    env = {k: v for k, v in os.environ.items() if k != "SPARSECOURSE_NUM_THREADS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env)
    assert out.stdout.strip() == "1"


def test_override_and_bad_input(monkeypatch):
    monkeypatch.setenv("SPARSECOURSE_NUM_THREADS", "3")
    assert available_cpus() == 3
    with pytest.raises(ValueError, match="n must be >= 1"):
        configure_threads(0)
    with pytest.raises(TypeError, match="n must be"):
        configure_threads(1.5)


def test_import_makes_openmp_threads_sleep_and_sizes_the_pools():
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS",
                        "KMP_BLOCKTIME", "SPARSECOURSE_NUM_THREADS",
                        "OPENBLAS_THREAD_TIMEOUT")}
    env["SPARSECOURSE_NUM_THREADS"] = "1"
    code = ("import os, sparsecourse, numba, torch\n"
            "print(os.environ['OMP_WAIT_POLICY'], numba.config.NUMBA_NUM_THREADS, "
            "torch.get_num_threads(), os.environ['OPENBLAS_THREAD_TIMEOUT'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env)
    assert out.stdout.split() == ["PASSIVE", "1", "1", "16"]
    # a setting of the user's own is kept
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env)
    assert out.stdout.split()[0] == "ACTIVE"


def test_notebooks_import_sparsecourse_before_torch():
    # OpenMP reads OMP_WAIT_POLICY when torch loads: `import sparsecourse` has to come first.
    import json
    import pathlib
    import re

    book = pathlib.Path(__file__).resolve().parents[1] / "book"
    late = []
    for path in sorted(book.glob("*.ipynb")):
        code = "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"]
                         if c["cell_type"] == "code")
        torch = re.search(r"^\s*(import|from) torch\b", code, re.M)
        package = re.search(r"^\s*(import|from) sparsecourse\b", code, re.M)
        if torch and (package is None or package.start() > torch.start()):
            late.append(path.name)
    assert not late, (
        f"{late} import torch before sparsecourse: put `import sparsecourse` at the top of "
        "the imports cell (see sparsecourse/_threads.py)"
    )


def _blas_counts():
    from threadpoolctl import threadpool_info

    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def test_blas_threads_holds_and_restores_the_count():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_counts()
        with _threads.blas_threads(1):
            assert _blas_counts() and set(_blas_counts()) == {1}
        assert _blas_counts() == before


@pytest.mark.parametrize("name", ["newton_ht", "htp"])
def test_fused_phase_retrieval_iterates_on_one_blas_thread(name, monkeypatch):
    # the pass runs on numba's threads; BLAS's busy-waiting threads would take their cores
    from threadpoolctl import threadpool_limits

    from sparsecourse.phase_retrieval import _kernels, gaussian_phase_retrieval, solvers

    seen = []
    real = _kernels.fused_pass

    def spy(*args, **kwargs):
        seen.append(_blas_counts())
        return real(*args, **kwargs)

    monkeypatch.setattr(_kernels, "fused_pass", spy)
    A, x, y = gaussian_phase_retrieval(300, 400, 5, seed=2)
    with threadpool_limits(limits=2, user_api="blas"):
        solvers.SOLVERS[name](A, y, 5, max_iter=3, kernel="fused")
        assert set(_blas_counts()) == {2}  # restored after the solve
    assert seen and all(set(c) == {1} for c in seen)
