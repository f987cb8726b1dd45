"""How long the Colab setup cell's install takes on a fresh runtime, simulated (issue 31.3).

A fresh virtual environment stands in for a Colab runtime: Colab's pip (23.2.1) and the
packages the issue's simulation found preinstalled (torch, numpy, pandas, matplotlib,
ipywidgets 7.7.1), installed before the clock starts. Then, for each install line a setup
cell uses (the light base; `[pile]` for the corpus chapters; `[online,pretrained]` for chapter
12), a copy of that environment runs the setup cell's command -- `python -m pip install -q
<spec>` with the cell's colour-free environment, no pip cache -- against a tagless clone of
this repository at HEAD. Prints the seconds, what was added, whether a preinstalled package
changed, and the machine's load.

    python benchmarks/colab_install.py [--variants base pile online,pretrained]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIP = "23.2.1"
PREINSTALLED = ["torch==2.13.0", "numpy", "pandas", "matplotlib", "ipywidgets==7.7.1"]  # torch: the CPU wheel (Colab: CUDA; not timed)


def _run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return r


def _packages(py: Path) -> dict:
    out = _run([str(py), "-m", "pip", "list", "--format=freeze"]).stdout
    return dict(line.split("==", 1) for line in out.splitlines() if "==" in line)


def _load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg()) + \
        f" on {os.cpu_count()} CPUs"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="+", default=["base", "pile", "online,pretrained"])
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="colab-sim-") as tmp:
        tmp = Path(tmp)
        repo = tmp / "repo"
        _run(["git", "clone", "-q", "--no-tags", str(ROOT), str(repo)])
        head = _run(["git", "rev-parse", "HEAD"], cwd=repo).stdout.strip()
        runtime = tmp / "runtime"
        t0 = time.perf_counter()
        _run([sys.executable, "-m", "venv", str(runtime)])
        py = runtime / "bin" / "python"
        _run([str(py), "-m", "pip", "install", "-q", f"pip=={PIP}"])
        _run([str(py), "-m", "pip", "install", "-q", *PREINSTALLED])
        before = _packages(py)
        print(f"runtime prepared in {time.perf_counter() - t0:.0f} s (not timed below): "
              f"pip {PIP}, " + ", ".join(f"{k} {before[k]}" for k in
                                         ("torch", "numpy", "pandas", "matplotlib", "ipywidgets")))
        env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "CLICOLOR_FORCE")}
        env.update(NO_COLOR="1", PIP_NO_COLOR="1", TERM="dumb", GIT_TERMINAL_PROMPT="0",
                   PIP_NO_CACHE_DIR="1")
        url = "file://localhost" + repo.as_posix()
        for variant in a.variants:
            fresh = tmp / f"runtime-{variant.replace(',', '-')}"
            shutil.copytree(runtime, fresh, symlinks=True)
            fpy = fresh / "bin" / "python"
            name = "psbook" if variant == "base" else f"psbook[{variant}]"
            spec = f"{name} @ git+{url}@{head}"
            load0 = _load()
            cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            r = subprocess.run([str(fpy), "-m", "pip", "install", "-q", spec],
                               capture_output=True, text=True, env=env)
            secs = time.perf_counter() - t
            cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
            if r.returncode:
                print(f"{name}: FAILED after {secs:.0f} s\n{r.stderr[-1500:]}")
                continue
            after = _packages(fpy)
            added = sorted(set(after) - set(before))
            changed = sorted(k for k in before if after.get(k) != before[k])
            print(f"{name}: {secs:.1f} s wall, {cpu:.1f} s CPU of pip and its children (on a loaded "
                  f"machine the CPU time is the better guide; {load0} before, {_load()} after); "
                  f"{len(added)} packages added: {', '.join(added)}; "
                  f"preinstalled changed: {changed or 'none'}")
            shutil.rmtree(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
