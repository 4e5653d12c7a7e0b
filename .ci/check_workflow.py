"""The local part of the GitHub workflow: what can be checked without GitHub.

Usage: ``python .ci/check_workflow.py``

Reads ``.github/workflows/pages.yml`` and fails unless: it runs on pushes to main and on pull
requests; on a pull request nothing deploys (the deploy job and the Pages steps are skipped) and
the built site is uploaded as an artifact instead; every script (``.ci/...``) and make target
its steps call exists here. (The steps themselves are what ``.ci/run`` runs locally.)
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
NOT_ON_PR = "github.event_name != 'pull_request'"


def main() -> int:
    wf = yaml.safe_load((ROOT / ".github/workflows/pages.yml").read_text())
    triggers = wf.get("on", wf.get(True))  # YAML 1.1 reads the key `on` as True
    problems = []
    if "pull_request" not in triggers:
        problems.append("the workflow does not run on pull requests")
    if "main" not in (triggers.get("push") or {}).get("branches", []):
        problems.append("the workflow does not run on pushes to main")
    jobs = wf["jobs"]
    if NOT_ON_PR not in str(jobs.get("deploy", {}).get("if", "")):
        problems.append("the deploy job is not skipped on pull requests")
    pr_artifact = False
    for name, job in jobs.items():
        for step in job.get("steps", []):
            uses, cond = str(step.get("uses", "")), str(step.get("if", ""))
            if uses.startswith(("actions/configure-pages", "actions/upload-pages-artifact")) \
                    and NOT_ON_PR not in cond:
                problems.append(f"{name}: {uses} also runs on pull requests")
            if uses.startswith("actions/upload-artifact") and "pull_request" in cond \
                    and (step.get("with") or {}).get("path") == "_build/html":
                pr_artifact = True
            run = str(step.get("run", ""))
            for script in re.findall(r"(\.ci/[\w/-]+\.(?:py|sh)|\.ci/run)\b", run):
                if not (ROOT / script).is_file():
                    problems.append(f"{name}: step calls {script}, which does not exist")
            for targets in re.findall(r"^\s*make ([\w -]+)$", run, re.M):
                for target in targets.split():
                    dry = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True)
                    if dry.returncode != 0:
                        problems.append(f"{name}: step calls `make {target}`, no such target")
    if not pr_artifact:
        problems.append("no step uploads _build/html as an artifact on pull requests")
    print(f"pages.yml: jobs {sorted(jobs)}; triggers {sorted(map(str, triggers))}")
    for p in problems:
        print("FAIL:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
