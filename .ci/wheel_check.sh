#!/usr/bin/env bash
# Coursework install check: what a student gets from `pip install sparsecourse`.
#
#   bash .ci/wheel_check.sh            (after `make install`: uses .venv's build and twine)
#
# 1. builds the sdist and the wheel (python -m build) and checks their metadata (twine check
#    --strict), and that the wheel holds the package and nothing else;
# 2. installs the wheel into a fresh venv from pyproject.toml's ranges alone (no requirements.txt),
#    with the test extra; torch is installed first at the pinned version (a student brings their
#    own torch; PyPI's Linux torch is a multi-GB CUDA build, so TORCH_INDEX_URL may name torch's CPU
#    index, as the GitHub workflow does);
# 3. runs tests/ against the installed wheel (conftest.py refuses the source tree's copy).
# 4. runs the Colab install cell against a local clone tagged like a release (.ci/colab_cell.py).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
PYTHON=${PYTHON:-python3}
TORCH_PIN=$(sed -n 's/^torch==\([^ ;#]*\).*/\1/p' requirements.txt | head -1)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sparsecourse-wheel.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

echo "--- build sdist + wheel"
.venv/bin/python -m build --outdir "$WORK/dist" . >"$WORK/build.log" 2>&1 || {
  tail -40 "$WORK/build.log"; exit 1; }
ls -l "$WORK/dist"
.venv/bin/python -m twine check --strict "$WORK/dist"/*
WHEEL=$(ls "$WORK"/dist/sparsecourse-*.whl)

echo "--- wheel contents"
.venv/bin/python - "$WHEEL" <<'PY'
import sys, zipfile, pathlib
names = zipfile.ZipFile(sys.argv[1]).namelist()
tops = sorted({n.split("/")[0] for n in names})
print("top-level entries:", tops)
bad = [t for t in tops if t != "sparsecourse" and not t.endswith(".dist-info")]
assert not bad, f"the wheel ships more than the package: {bad}"
src = sorted(p.as_posix() for p in pathlib.Path("sparsecourse").rglob("*.py"))
missing = [p for p in src if p not in names]
assert not missing, f"source files missing from the wheel: {missing}"
print(f"{len(src)} modules, all in the wheel")
PY

echo "--- fresh venv: torch==$TORCH_PIN, then the wheel with its declared ranges"
"$PYTHON" -m venv "$WORK/venv"
pip_install() {  # quiet, without this machine's warnings about its local package folders
  "$WORK/venv/bin/python" -m pip install --quiet "$@" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}
pip_install "torch==$TORCH_PIN" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
pip_install "$WHEEL[test]"
"$WORK/venv/bin/python" -m pip check
"$WORK/venv/bin/python" -m pip list 2>/dev/null \
  | grep -iE '^(numpy|scipy|scikit-learn|numba|torch|safetensors|matplotlib|tqdm) ' || true

echo "--- tests/ against the installed wheel"
# The venv's pytest script (not `python -m pytest`, which would put the source tree on sys.path).
cd "$ROOT"
# The trained weights and the corpus live in the repository's data/, not in the wheel: a student
# with a clone points SPARSECOURSE_DATA at it, as here.
SPARSECOURSE_DATA="$ROOT/data" SPARSECOURSE_EXPECT_INSTALLED=1 \
  "$WORK/venv/bin/pytest" tests/ -q -p no:cacheprovider

echo "--- the Colab install cell, run as Colab would against a local clone tagged v<version>"
# .ci/colab_cell.py simulate: google.colab faked, GitHub replaced by a bare clone of this commit
# with the release tag; torch must stay as installed, the package must load its weights from the
# clone's data/.
.venv/bin/python .ci/colab_cell.py simulate --python "$WORK/venv/bin/python" --workdir "$WORK/colab"
