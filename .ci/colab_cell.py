"""The Colab install cell: one text in every chapter, pinned to the git ref the notebook belongs to.

Every chapter's first code cell is the same cell, :data:`CELL` with ``BOOK_REF`` filled in. On Colab
it clones the repository *at that ref* (``main`` on the main branch, ``v<version>`` in a tagged
release), installs the package from the clone with a pip constraint that keeps Colab's own torch
build, and points ``SPARSECOURSE_DATA`` at the clone's ``data/`` (the trained weights, corpus and
tokenizer, which do not ship in the wheel). Anywhere else it does nothing.

    python .ci/colab_cell.py check            every notebook holds the cell; one ref everywhere,
                                              "main" or "v<__version__>"; _config.yml's launch
                                              branch and the README badges name the same ref
    python .ci/colab_cell.py write            (re)write the cell into every notebook, keeping
                                              its ref
    python .ci/colab_cell.py set-ref REF      the ref everywhere: notebooks, _config.yml, README
                                              (``make release`` sets v<version>; ``main`` after)
    python .ci/colab_cell.py simulate --python PY --workdir DIR
                                              run the cell as Colab would, against a local clone
                                              of this repository tagged v<version> instead of
                                              GitHub, in the environment of interpreter PY (one
                                              with torch installed): torch must stay as it was, the
                                              package must import from that environment and find
                                              its data (.ci/wheel_check.sh runs this)
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPO_URL = "https://github.com/sparsity-in-ml/sparsity-in-ml"
COLAB_DIR = "/content"
MARKER = "# On Colab:"

CELL = f'''{MARKER} fetch the book's code and data at the git ref this notebook belongs to
# and install the companion package, keeping Colab's own torch. Elsewhere: nothing.
import os
import subprocess
import sys

BOOK_REF = "{{ref}}"  # "main", or the tag of a release such as "v1.0.0"
if "google.colab" in sys.modules:
    from importlib.metadata import version

    repo = "{REPO_URL}"
    src = os.path.join("{COLAB_DIR}", "sparsity-in-ml")
    if not os.path.isdir(src):
        clone = ["git", "clone", "-q", "--depth", "1", "--branch", BOOK_REF, repo, src]
        subprocess.run(clone, check=True)
    keep_torch = os.path.join("{COLAB_DIR}", "keep-torch.txt")  # a pip constraint
    with open(keep_torch, "w") as f:
        f.write(f"torch=={{version('torch')}}\\n")
    pip = [sys.executable, "-m", "pip", "install", "-q", "-c", keep_torch, src]
    subprocess.run(pip, check=True)
    os.environ["SPARSECOURSE_DATA"] = os.path.join(src, "data")'''

def _cell(ref: str) -> str:
    return CELL.replace("{ref}", ref)


REF_LINE = re.compile(r'^BOOK_REF = "([^"]+)"', re.M)


def version() -> str:
    text = (ROOT / "sparsecourse" / "__init__.py").read_text()
    return re.search(r'^__version__ = "([^"]+)"', text, re.M).group(1)


def notebooks() -> list[Path]:
    paths = (ROOT / "book").rglob("*.ipynb")
    return sorted(p for p in paths if ".ipynb_checkpoints" not in p.parts)


def first_code(nb: dict) -> dict:
    return next(c for c in nb["cells"] if c["cell_type"] == "code")


def cell_ref(source: str) -> str | None:
    m = REF_LINE.search(source)
    return m.group(1) if m else None


def _source_lines(text: str) -> list[str]:
    lines = text.split("\n")
    return [line + "\n" for line in lines[:-1]] + [lines[-1]]


def write(ref: str | None = None) -> None:
    for path in notebooks():
        nb = json.loads(path.read_text())
        cell = first_code(nb)
        old = "".join(cell["source"])
        new = _cell(ref or cell_ref(old) or "main")
        if new != old:
            cell["source"] = _source_lines(new)
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
            print(f"wrote the Colab cell of {path.relative_to(ROOT)}")


def _launch_refs() -> dict[str, str]:
    """The ref each launch link names: _config.yml's branch and the README badges."""
    config = (ROOT / "_config.yml").read_text()
    readme = (ROOT / "README.md").read_text()
    refs = {"_config.yml repository.branch":
            re.search(r"^repository:\n(?:  .*\n)*?  branch: (\S+)", config, re.M).group(1)}
    binder = re.search(r"mybinder\.org/v2/gh/sparsity-in-ml/sparsity-in-ml/([^?)/]+)", readme)
    colab = re.search(r"colab\.research\.google\.com/github/sparsity-in-ml/sparsity-in-ml/blob/"
                      r"([^/)]+)/", readme)
    refs["README Binder badge"] = binder.group(1) if binder else "(missing)"
    refs["README Colab badge"] = colab.group(1) if colab else "(missing)"
    return refs


def set_ref(ref: str) -> None:
    write(ref)
    config = ROOT / "_config.yml"
    text = re.sub(r"^(repository:\n(?:  .*\n)*?  branch: )\S+", rf"\g<1>{ref}",
                  config.read_text(), count=1, flags=re.M)
    config.write_text(text)
    readme = ROOT / "README.md"
    text = re.sub(r"(mybinder\.org/v2/gh/sparsity-in-ml/sparsity-in-ml/)[^?)/]+",
                  rf"\g<1>{ref}", readme.read_text())
    text = re.sub(r"(colab\.research\.google\.com/github/sparsity-in-ml/sparsity-in-ml/blob/)"
                  r"[^/)]+/", rf"\g<1>{ref}/", text)
    readme.write_text(text)
    print(f"ref {ref}: notebooks, _config.yml and README")


def check() -> list[str]:
    problems, refs = [], set()
    for path in notebooks():
        source = "".join(first_code(json.loads(path.read_text()))["source"])
        ref = cell_ref(source)
        refs.add(ref)
        if ref is None or source != _cell(ref):
            problems.append(f"{path.name}: the first code cell is not the Colab cell "
                            "(python .ci/colab_cell.py write)")
    allowed = {"main", f"v{version()}"}
    if len(refs) != 1:
        problems.append(f"the notebooks name different refs: {sorted(map(str, refs))}")
        return problems
    (ref,) = refs
    if ref not in allowed:
        problems.append(f"the notebooks' ref {ref} is neither of {sorted(allowed)}")
    for where, launch_ref in _launch_refs().items():
        if launch_ref != ref:
            problems.append(f"{where} names {launch_ref}, the notebooks {ref}")
    return problems


SIMULATION = r'''
import json, os, subprocess, sys, types
import torch
before = (torch.__version__, torch.__file__)
sys.modules["google.colab"] = types.ModuleType("google.colab")  # what Colab's kernel has
exec(compile(open(sys.argv[1]).read(), "colab-cell", "exec"))
after = subprocess.run([sys.executable, "-c", "import torch; print(torch.__version__, "
                        "torch.__file__)"], capture_output=True, text=True, check=True)
probe = subprocess.run([sys.executable, "-c", """
import json, sparsecourse
from sparsecourse.models import load_pretrained
from sparsecourse.models.data import DATA_DIR
model = load_pretrained("relu")  # the weights and corpus checksum in SPARSECOURSE_DATA
print(json.dumps({"file": sparsecourse.__file__, "version": sparsecourse.__version__,
                  "data": str(DATA_DIR), "params": sum(p.numel() for p in model.parameters())}))
"""], capture_output=True, text=True)
print(json.dumps({"before": list(before), "after": after.stdout.split(),
                  "data": os.environ.get("SPARSECOURSE_DATA"),
                  "probe_rc": probe.returncode, "probe": probe.stdout.strip(),
                  "probe_err": probe.stderr[-2000:]}))
'''


def simulate(python: str, workdir: Path) -> list[str]:
    """Run the cell as Colab would, with GitHub replaced by a local clone tagged v<version>."""
    tag = f"v{version()}"
    workdir.mkdir(parents=True, exist_ok=True)
    origin = workdir / "origin.git"  # stands in for GitHub: this commit, tagged like a release
    subprocess.run(["git", "clone", "-q", "--bare", str(ROOT), str(origin)], check=True)
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    subprocess.run(["git", "-C", str(origin), "tag", "-f", tag, head], check=True,
                   capture_output=True)
    content = workdir / "content"
    cell = (_cell(tag).replace(f'"{REPO_URL}"', repr(origin.as_uri()))
            .replace(f'"{COLAB_DIR}"', repr(str(content))))
    content.mkdir(exist_ok=True)
    (workdir / "cell.py").write_text(cell)
    (workdir / "simulate.py").write_text(SIMULATION)
    run = subprocess.run([python, str(workdir / "simulate.py"), str(workdir / "cell.py")],
                         capture_output=True, text=True, cwd=workdir)
    if run.returncode:
        return [f"the Colab cell failed (rc {run.returncode}):\n{run.stdout[-3000:]}"
                f"\n{run.stderr[-3000:]}"]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    print(json.dumps(report, indent=1))
    problems = []
    if report["after"] != report["before"]:
        problems.append(f"torch changed: {report['before']} -> {report['after']}")
    if report["probe_rc"]:
        return problems + [f"after the cell, the package cannot load its data:\n"
                           f"{report['probe_err']}"]
    probe = json.loads(report["probe"])
    clone = content / "sparsity-in-ml"
    if Path(probe["file"]).resolve().is_relative_to(clone.resolve()) or "site-packages" not in \
            probe["file"]:
        problems.append(f"sparsecourse imported from {probe['file']}, not the environment")
    if probe["version"] != version():
        problems.append(f"installed version {probe['version']}, the tag is {tag}")
    if Path(probe["data"]).resolve() != (clone / "data").resolve():
        problems.append(f"the package reads data from {probe['data']}, not the clone's data/")
    tagged = subprocess.run(["git", "-C", str(clone), "describe", "--tags", "--exact-match"],
                            capture_output=True, text=True).stdout.strip()
    if tagged != tag:
        problems.append(f"the clone is at {tagged or 'no tag'}, not {tag}")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("check")
    sub.add_parser("write")
    p = sub.add_parser("set-ref")
    p.add_argument("ref")
    p = sub.add_parser("simulate")
    p.add_argument("--python", required=True)
    p.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.cmd == "write":
        write()
        return 0
    if args.cmd == "set-ref":
        set_ref(args.ref)
        return 0
    problems = check() if args.cmd == "check" else simulate(args.python, args.workdir)
    for p in problems:
        print("FAIL:", p)
    if not problems:
        print(f"OK: colab cell {args.cmd}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
