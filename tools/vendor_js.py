"""Vendor the JavaScript the built book needs, so that `_build/html` renders offline.

MathJax 3 (math) and the Jupyter widgets HTML manager with RequireJS (saved widget views) are
fetched from the npm registry with `npm pack` (pinned versions below) and unpacked into
`_vendor/` (git-ignored; `html_static_path`, so served as `_static/mathjax/...` etc.). `_config.yml` points Sphinx (`mathjax_path`) and myst-nb
(`nb_ipywidgets_js`) at these files instead of a CDN, so the published site and a page opened from
disk load the same scripts. Re-running is a no-op once the stamp file matches the versions.

    python tools/vendor_js.py            # fetch (npm, else the registry's tarball URL)
    python tools/vendor_js.py --check    # exit 1 with a message when the files are missing
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEST = ROOT / "_vendor"
STAMP = DEST / "VERSIONS.json"

# name -> (version, [(path inside the package, path under _static/vendor)])
PACKAGES = {
    "mathjax": ("3.2.2", [
        ("es5/tex-mml-chtml.js", "mathjax/tex-mml-chtml.js"),
        ("es5/output/chtml", "mathjax/output/chtml"),
        ("es5/input/tex/extensions", "mathjax/input/tex/extensions"),
        ("es5/ui", "mathjax/ui"),
        ("es5/a11y", "mathjax/a11y"),
        ("es5/sre", "mathjax/sre"),
        ("LICENSE", "mathjax/LICENSE"),
    ]),
    "@jupyter-widgets/html-manager": ("1.0.15", [
        ("dist", "html-manager"),
        ("LICENSE", "html-manager/LICENSE"),
    ]),
    "requirejs": ("2.3.8", [
        ("require.js", "requirejs/require.js"),
        ("LICENSE", "requirejs/LICENSE"),
    ]),
}
PRUNE = ["html-manager/*.map", "html-manager/embed.js", "html-manager/libembed-amd.js"]
# Files the pages load (checked by --check and by tests/test_browser.py).
REQUIRED = ["mathjax/tex-mml-chtml.js", "html-manager/embed-amd.js", "requirejs/require.js"]


def _tarball(name: str, version: str, workdir: Path) -> bytes:
    npm = shutil.which("npm")
    if npm:
        out = subprocess.run([npm, "pack", f"{name}@{version}", "--silent",
                              "--pack-destination", str(workdir)],
                             capture_output=True, text=True, cwd=workdir)
        if out.returncode == 0:
            fname = out.stdout.strip().splitlines()[-1]
            return (workdir / fname).read_bytes()
        print(f"npm pack {name}@{version} failed ({out.stderr.strip()[:200]}); "
              "trying the registry URL", file=sys.stderr)
    base = name.split("/")[-1]
    url = f"https://registry.npmjs.org/{name}/-/{base}-{version}.tgz"
    with urllib.request.urlopen(url, timeout=60) as r:  # noqa: S310 (fixed https URL)
        return r.read()


def _extract(data: bytes, mapping, dest: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = tar.getmembers()
        for src, dst in mapping:
            prefix = f"package/{src}"
            hit = False
            for m in members:
                if not m.isfile():
                    continue
                if m.name == prefix or m.name.startswith(prefix + "/"):
                    rel = m.name[len(prefix):].lstrip("/")
                    target = dest / dst / rel if rel else dest / dst
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(tar.extractfile(m).read())
                    hit = True
            if not hit and not src.endswith("LICENSE"):
                raise SystemExit(f"vendor_js: {src!r} not found in the npm package")


# Not `_static/`: Jupyter Book 1 adds EVERY .js/.css under a root `_static/` folder to every page.

def missing() -> list[str]:
    return [p for p in REQUIRED if not (DEST / p).is_file()]


def vendor(force: bool = False) -> None:
    want = {k: v[0] for k, v in PACKAGES.items()}
    if not force and STAMP.exists() and not missing():
        if json.loads(STAMP.read_text()) == want:
            return
    tmp_dest = DEST.with_name("_vendor.tmp")
    shutil.rmtree(tmp_dest, ignore_errors=True)
    with tempfile.TemporaryDirectory() as work:
        for name, (version, mapping) in PACKAGES.items():
            try:
                data = _tarball(name, version, Path(work))
            except OSError as e:
                raise SystemExit(
                    f"vendor_js: could not fetch {name}@{version} from the npm registry ({e}).\n"
                    "The book's pages load MathJax and the widget manager from _vendor/;\n"
                    "run `make vendor` on a machine that can reach registry.npmjs.org, or copy\n"
                    "_vendor/ from one.") from None
            _extract(data, mapping, tmp_dest)
    for junk in PRUNE:  # source maps and the non-AMD bundles: 11 MB the pages never load
        for f in tmp_dest.glob(junk):
            f.unlink()
    (tmp_dest / "VERSIONS.json").write_text(json.dumps(want, indent=1) + "\n")
    shutil.rmtree(DEST, ignore_errors=True)
    tmp_dest.rename(DEST)
    print(f"vendored {', '.join(f'{k}@{v}' for k, v in want.items())} into {DEST.relative_to(ROOT)}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only check that the files are there")
    ap.add_argument("--force", action="store_true", help="fetch again")
    a = ap.parse_args(argv)
    if a.check:
        gone = missing()
        if gone:
            print(f"missing in _vendor/: {', '.join(gone)}; run `make vendor`")
            return 1
        return 0
    vendor(force=a.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
