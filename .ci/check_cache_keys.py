"""The Pages workflow's execution-cache key covers every file the Makefile's hash covers.

Usage: ``python .ci/check_cache_keys.py``

The Makefile clears the notebook execution cache when the hash of ``DEPS_FILES`` (package, pins,
``data/**``) changes; on GitHub the cache itself is restored by a key made with ``hashFiles(...)``.
If a file were in one and not the other, stale outputs could come back. This expands the key's
glob patterns over the repository and fails if a file of ``make print-deps`` is not matched, or
if the key misses the notebooks themselves.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def key_patterns() -> list[str]:
    wf = yaml.safe_load((ROOT / ".github/workflows/pages.yml").read_text())
    for job in wf["jobs"].values():
        for step in job.get("steps", []):
            key = (step.get("with") or {}).get("key", "")
            if str(step.get("uses", "")).startswith("actions/cache") and "jupyter-cache" in key:
                m = re.search(r"hashFiles\(([^)]*)\)", key)
                assert m, f"no hashFiles(...) in the cache key {key!r}"
                return re.findall(r"'([^']+)'", m.group(1))
    raise SystemExit("pages.yml has no actions/cache step for the jupyter cache")


def expand(pattern: str) -> set[str]:
    # GitHub's `dir/**` matches every file below dir; pathlib's `**` alone matches directories.
    if pattern.endswith("**"):
        pattern += "/*"
    return {p.relative_to(ROOT).as_posix() for p in ROOT.glob(pattern) if p.is_file()}


def main() -> int:
    patterns = key_patterns()
    covered = set().union(*(expand(p) for p in patterns))
    out = subprocess.run(["make", "-s", "print-deps"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.split()
    missing = sorted(set(out) - covered)
    notebooks = {p.relative_to(ROOT).as_posix() for p in (ROOT / "book").rglob("*.ipynb")}
    print(f"cache key patterns: {patterns}")
    print(f"Makefile hash: {len(out)} files ({sum(f.startswith('data/') for f in out)} in data/); "
          f"key covers {len(covered)} files")
    rc = 0
    if missing:
        print(f"FAIL: in the Makefile's hash but not in the workflow's cache key: {missing}")
        rc = 1
    if not any(f.startswith("data/") for f in out):
        print("FAIL: the Makefile's hash covers nothing under data/")
        rc = 1
    if notebooks - covered:
        print(f"FAIL: notebooks not in the cache key: {sorted(notebooks - covered)}")
        rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
