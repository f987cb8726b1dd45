"""Pre-execute the course notebooks (plan B for a session where Colab fails).

``python -m psbook.course execute [--kind student|solutions] [--preset tiny] [--out DIR]
[NN ...]`` runs the generated notebooks in a local kernel and writes executed copies (figures
and printed numbers included) to ``--out`` (default ``_build/course-executed/<kind>``): students
can read them without a kernel, or open them locally. A student notebook runs to the end with
its stubs unfinished (each says so and its check uses the reference), so its executed copy shows
every figure. The generated notebooks themselves are never modified.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

__all__ = ["execute_notebooks"]


def _client(nb, cwd: Path, timeout: int):
    try:
        import nbclient
    except ImportError as e:  # pragma: no cover - nbclient comes with psbook[dev]
        raise SystemExit("executing notebooks needs nbclient: pip install nbclient "
                         "(or install psbook[dev])") from e
    return nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                   allow_errors=True, resources={"metadata": {"path": str(cwd)}})


def execute_notebooks(root: Path, kind: str = "student", out: Path | None = None,
                      chapters=(), preset: str = "tiny", timeout: int = 1800,
                      echo=print) -> list[tuple[Path, list]]:
    """Execute ``course/notebooks/<kind>/NN-*.ipynb`` (only chapters ``NN`` in ``chapters``
    when given) with ``PSBOOK_PRESET=preset``; write the executed copies to ``out``. Returns
    ``[(written path, errors)]``, errors as ``(cell index, name, message)``."""
    import nbformat
    if kind not in ("student", "solutions"):
        raise ValueError(f"kind must be 'student' or 'solutions'; got {kind!r}")
    root = Path(root)
    src = root / "course" / "notebooks" / kind
    paths = sorted(src.glob("[0-9][0-9]-*.ipynb"))
    if chapters:
        want = {f"{int(c):02d}" for c in chapters}
        paths = [p for p in paths if p.name[:2] in want]
    if not paths:
        raise ValueError(f"no notebooks to execute in {src} (chapters {list(chapters) or 'all'});"
                         f" run `python -m psbook.course build` first")
    out = Path(out) if out else root / "_build" / "course-executed" / kind
    out.mkdir(parents=True, exist_ok=True)
    old = os.environ.get("PSBOOK_PRESET")
    os.environ["PSBOOK_PRESET"] = preset
    results = []
    try:
        for p in paths:
            nb = nbformat.read(p, as_version=4)
            t0 = time.perf_counter()
            _client(nb, p.parent, timeout).execute()
            errs = [(i, o.get("ename", ""), o.get("evalue", "")) for i, c in enumerate(nb.cells)
                    if c.cell_type == "code" for o in c.get("outputs", [])
                    if o.get("output_type") == "error"]
            dest = out / p.name
            nbformat.write(nb, dest)
            echo(f"{dest}: {len(errs)} error(s), {time.perf_counter() - t0:.0f} s")
            results.append((dest, errs))
    finally:
        if old is None:
            os.environ.pop("PSBOOK_PRESET", None)
        else:
            os.environ["PSBOOK_PRESET"] = old
    return results
