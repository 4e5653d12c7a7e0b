"""What a student's ``pip install sparsecourse`` promises.

These tests also run in CI against the wheel installed into a fresh venv from pyproject.toml's
ranges alone (``.ci/wheel_check.sh``), so they read the *installed* distribution's metadata,
not the source tree's files.
"""

import ast
import importlib.metadata
import pathlib
import subprocess
import sys

import pytest
from packaging.requirements import Requirement

import sparsecourse

# Import name -> distribution name, where the two differ.
DIST_OF = {"sklearn": "scikit-learn", "yaml": "pyyaml"}


def _package_imports() -> dict[str, set[str]]:
    """Third-party top-level modules imported anywhere in the installed package, with the files."""
    root = pathlib.Path(sparsecourse.__file__).resolve().parent
    found: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top == "sparsecourse":
                    continue
                found.setdefault(top, set()).add(path.relative_to(root).as_posix())
    return found


def _declared() -> tuple[set[str], set[str]]:
    """(required, optional) distribution names from the installed package's metadata."""
    required, optional = set(), set()
    for line in importlib.metadata.requires("sparsecourse") or []:
        req = Requirement(line)
        name = req.name.lower().replace("_", "-")
        (optional if req.marker and "extra" in str(req.marker) else required).add(name)
    return required, optional


def test_every_import_is_declared():
    required, optional = _declared()
    assert "numpy" in required, "package metadata not found: is sparsecourse installed?"
    missing = {
        mod: files
        for mod, files in _package_imports().items()
        if DIST_OF.get(mod, mod).lower() not in required | optional
    }
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_optional_dependencies_are_not_imported_by_the_package_import():
    required, optional = _declared()
    only_optional = sorted(optional - required)
    # scikit-learn (a required dependency) imports pandas by itself when pandas is installed:
    # count only what `import sparsecourse` loads beyond what importing scikit-learn loads.
    code = ("import sys, sklearn\nbefore = set(sys.modules)\nimport sparsecourse\n"
            "print(' '.join(sorted(set(sys.modules) - before)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.split())
    imported_optional = [
        mod for mod in _package_imports()
        if DIST_OF.get(mod, mod).lower() in only_optional and mod in loaded
    ]
    assert not imported_optional, f"`import sparsecourse` loads optional {imported_optional}"


@pytest.mark.parametrize(
    "call",
    [
        "from sparsecourse.kernels import triton_csr_spmv as f\n"
        "f(sp.csr_array(np.eye(2, dtype=np.float32)), np.ones(2, np.float32))",
        "from sparsecourse.sparse_nn import triton_sparse_linear_forward as f\n"
        "f(sp.csr_array(np.eye(2, dtype=np.float32)), np.ones((1, 2), np.float32))",
    ],
)
def test_triton_entry_points_without_triton_say_what_to_install(call):
    code = (
        "import sys; sys.modules['triton'] = None\n"  # makes `import triton` fail
        "import numpy as np, scipy.sparse as sp\n"
        "try:\n    " + call.replace("\n", "\n    ") + "\n"
        "except ImportError as e:\n    print(type(e).__name__, e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("ImportError"), out.stdout + out.stderr
    assert "pip install 'sparsecourse[gpu]'" in out.stdout
