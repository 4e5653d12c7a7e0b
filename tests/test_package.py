"""Package-level promises: version, optional triton, docstring examples, clean notebooks."""

import doctest
import importlib
import importlib.util
import json
import pathlib
import subprocess
import sys

import pytest
import yaml

import sparsecourse

ROOT = pathlib.Path(__file__).resolve().parents[1]
MODULES = ["sparsecourse.utils", "sparsecourse.datasets", "sparsecourse.kernels",
           "sparsecourse.checks._core", "sparsecourse.checks._intro",
           "sparsecourse.checks._regression",
           "sparsecourse.checks", "sparsecourse._validation"]


def test_version_is_a_release_string():
    parts = sparsecourse.__version__.split(".")
    assert len(parts) == 3 and all(p.isdigit() for p in parts)


def test_import_does_not_load_torch():
    # chapters 2-4 import lazily, and the exercise checks import torch inside the functions
    code = "import sys, sparsecourse; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_import_works_without_triton():
    code = (
        "import sys; sys.modules['triton'] = None\n"  # makes `import triton` fail
        "import sparsecourse, sparsecourse.kernels as k, numpy as np, scipy.sparse as sp\n"
        "assert k.triton_available() is False\n"
        "print(k.csr_spmv(sp.csr_array(np.eye(2)), np.ones(2)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "[1. 1.]" in out.stdout


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_public_functions_have_docstrings_with_examples():
    for name in MODULES[:-1]:
        module = importlib.import_module(name)
        for attr in module.__all__:
            obj = getattr(module, attr)
            if callable(obj) and not isinstance(obj, type):
                assert obj.__doc__ and "Examples" in obj.__doc__, f"{name}.{attr}"


def _notebooks():
    paths = (ROOT / "book").rglob("*.ipynb")
    return sorted(p for p in paths if ".ipynb_checkpoints" not in p.parts)


def test_notebooks_are_stored_without_outputs():
    nbs = _notebooks()
    assert nbs, "no notebooks found under book/"
    for path in nbs:
        nb = json.loads(path.read_text())
        for i, cell in enumerate(nb["cells"]):
            if cell["cell_type"] == "code":
                assert not cell.get("outputs"), f"{path.name} cell {i} has stored outputs"
                assert cell.get("execution_count") is None, f"{path.name} cell {i} has a count"


def test_every_notebook_installs_the_package_on_colab_first():
    for path in _notebooks():
        nb = json.loads(path.read_text())
        first_code = next(c for c in nb["cells"] if c["cell_type"] == "code")
        assert "google.colab" in "".join(first_code["source"]), path.name


def test_colab_cells_and_launch_links_name_one_ref():
    spec = importlib.util.spec_from_file_location("colab_cell", ROOT / ".ci" / "colab_cell.py")
    colab_cell = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(colab_cell)
    assert colab_cell.check() == []
    # the check sees a notebook whose cell names another ref
    nb = json.loads((ROOT / "book" / "00_introduction.ipynb").read_text())
    source = "".join(colab_cell.first_code(nb)["source"])
    assert colab_cell.cell_ref(source) in {"main", f"v{sparsecourse.__version__}"}
    assert colab_cell.cell_ref(source.replace(f'"{colab_cell.cell_ref(source)}"', '"v9"')) == "v9"


def _toc_files(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("file", "root"):
                yield value
            else:
                yield from _toc_files(value)
    elif isinstance(node, list):
        for item in node:
            yield from _toc_files(item)


def test_toc_and_book_files_agree():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    listed = set(_toc_files(toc))
    for entry in listed:
        assert any((ROOT / f"{entry}{ext}").exists() for ext in (".md", ".ipynb")), entry
    for path in _notebooks():
        assert str(path.relative_to(ROOT).with_suffix("")) in listed, f"{path} not in _toc.yml"


def test_bibliography_parses_and_has_unique_keys():
    # a merge that drops a closing brace breaks the whole book build (sphinxcontrib-bibtex)
    database = pytest.importorskip("pybtex.database", reason="pybtex comes with the book extras")
    text = (ROOT / "book" / "references.bib").read_text(encoding="utf-8")
    db = database.parse_string(text, "bibtex")
    assert len(db.entries) == text.count("\n@") + text.startswith("@")
