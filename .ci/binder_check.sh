#!/usr/bin/env bash
# Binder check: the environment binder/ describes resolves and installs on the Python that
# binder/runtime.txt names, and it is enough to read the book.
#
#   bash .ci/binder_check.sh [notebook]     (default: book/00_introduction.ipynb)
#
# 1. finds python<major.minor> from binder/runtime.txt (fails if this machine does not have it);
# 2. installs exactly binder/requirements.txt (which includes requirements.txt) into a fresh venv,
#    as repo2docker does, from the repository root; pip's retries are off, so an unreachable
#    extra index (torch's CPU index, offline CI) costs seconds, not minutes, and torch then comes
#    from wherever pip finds torch==<pin>+cpu;
# 3. checks that no development tool came with it, imports every module of the package
#    (pkgutil: new chapters are picked up), and runs one short notebook top to bottom.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
NOTEBOOK=${1:-book/00_introduction.ipynb}

version=$(sed -n 's/^python-\([0-9]*\.[0-9]*\).*/\1/p' binder/runtime.txt)
[ -n "$version" ] || { echo "binder/runtime.txt names no python-X.Y" >&2; exit 1; }
PY=$(command -v "python$version" || true)
if [ -z "$PY" ] && python3 -c "import sys; sys.exit(f'{sys.version_info[0]}.{sys.version_info[1]}' != '$version')"; then
  PY=$(command -v python3)
fi
[ -n "$PY" ] || { echo "binder/runtime.txt names Python $version, not on this machine" >&2; exit 1; }
echo "binder/runtime.txt: Python $version -> $PY ($($PY --version))"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sparsecourse-binder.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
"$PY" -m venv "$WORK/venv"
BIN="$WORK/venv/bin"
echo "--- pip install -r binder/requirements.txt"
pip_install() {  # quiet, without this machine's warnings about its local package folders
  "$BIN/python" -m pip install --quiet --retries 0 "$@" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}
pip_install -r binder/requirements.txt
"$BIN/python" -m pip check
"$BIN/python" - <<'PY'
import importlib.metadata as md
have = {d.metadata["Name"].lower() for d in md.distributions()}
torch = md.version("torch")
print(f"{len(have)} distributions; torch {torch}")
assert "+cpu" in torch or "nvidia-cublas-cu12" not in have, f"torch {torch} is a CUDA build"
dev = sorted(have & {"pytest", "ruff", "playwright", "nbval", "hypothesis", "jupyter-book",
                     "sphinx", "twine", "build"})
assert not dev, f"development tools in the reading environment: {dev}"
PY

echo "--- import every module of the package"
"$BIN/python" - <<'PY'
import importlib, pkgutil, sparsecourse
names, skipped = [], []
for info in pkgutil.walk_packages(sparsecourse.__path__, "sparsecourse."):
    try:
        importlib.import_module(info.name)
    except ModuleNotFoundError as err:  # optional dependencies Binder does not install
        if err.name != "triton":
            raise
        skipped.append(info.name)
    else:
        names.append(info.name)
print(f"imported {len(names)} modules; needs triton (optional, not on Binder): {skipped}")
PY

echo "--- run $NOTEBOOK in the Binder environment"
# nbclient drives the kernel; it is the checker's tool, installed after the environment was
# checked, and is not part of what Binder installs.
pip_install nbclient
start=$SECONDS
"$BIN/python" - "$NOTEBOOK" <<'PY'
import sys, pathlib, nbformat
from nbclient import NotebookClient
path = pathlib.Path(sys.argv[1])
nb = nbformat.read(path, as_version=4)
NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
n = sum(c.cell_type == "code" for c in nb.cells)
print(f"{path}: {n} code cells ran without error")
PY
echo "notebook ran in $((SECONDS - start)) s"
