"""How long the offline decisions take (the timings the tests used to assert; issue 32 item 7).

Run on demand (not in CI):  .venv/bin/python benchmarks/bench_offline.py

The tests check the behaviour behind "fast" (no connection tried when HF_HUB_OFFLINE=1 or
PSBOOK_ONLINE=0; the probe gives up while a connection still hangs); this script measures the
wall time of each, in fresh processes (imports included), and prints one line per case.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CASES = {
    "is_online, HF_HUB_OFFLINE=1": (
        "from psbook.corpus import is_online; assert is_online(verbose=False) is False",
        {"HF_HUB_OFFLINE": "1"}),
    "is_online, a connection that hangs (probe gives up after 1.5 s)": (
        "import socket, time\n"
        "socket.create_connection = lambda *a, **k: time.sleep(20)\n"
        "from psbook.corpus import is_online; assert is_online(verbose=False) is False",
        {"HF_HUB_OFFLINE": "", "HF_DATASETS_OFFLINE": "", "PSBOOK_ONLINE": ""}),
    "pretrained.load of an unknown model, offline (imports transformers)": (
        "from psbook import pretrained\n"
        "try:\n    pretrained.load('someone/surely-not-a-cached-model-xyz')\n"
        "except ValueError:\n    pass",
        {"HF_HUB_OFFLINE": "1"}),
}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cases = dict(CASES)
        cases["tools/data.py check, no corpus, PSBOOK_ONLINE=0"] = (
            None, {"PSBOOK_DATA": str(Path(tmp) / "none"), "PSBOOK_ONLINE": "0"})
        for name, (code, env) in cases.items():
            e = {**os.environ, **env}
            args = ([sys.executable, str(ROOT / "tools" / "data.py"), "check"] if code is None
                    else [sys.executable, "-c", code])
            t0 = time.perf_counter()
            subprocess.run(args, env=e, capture_output=True, timeout=600)
            print(f"{time.perf_counter() - t0:6.2f} s  {name}")


if __name__ == "__main__":
    main()
