"""Vendor the JavaScript the built book needs, so that `_build/html` renders offline.

MathJax 3 (math), the Jupyter widgets HTML manager with RequireJS (saved widget views) and
Vega / Vega-Lite / vega-embed (the kernel-free knobs of `psbook.knobs`) are
fetched from the npm registry with `npm pack` (pinned versions below) and unpacked into
`_vendor/` (git-ignored; `html_static_path`, so served as `_static/mathjax/...` etc.). `_config.yml` points Sphinx (`mathjax_path`) and myst-nb
(`nb_ipywidgets_js`) at these files instead of a CDN, so the published site and a page opened from
disk load the same scripts. Re-running is a no-op once the stamp file matches the versions.

Every tarball is checked against the npm registry's pinned `dist.integrity` (SHA-512) before
anything is unpacked, and every file is written only inside `_vendor/`: a tampered package or
a member path leaving the folder (`../x`, an absolute path, a link) stops the script.

    python tools/vendor_js.py            # fetch (npm, else the registry's tarball URL)
    python tools/vendor_js.py --check    # exit 1 with a message when the files are missing
"""

from __future__ import annotations

import argparse
import base64
import hashlib
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
    # Kernel-free knobs (psbook.knobs: Altair charts): Vega, Vega-Lite (the version of Altair's
    # schema) and vega-embed, loaded only on pages that hold a knob (tools/psbook_sphinx.py).
    "vega": ("6.3.0", [
        ("build/vega.min.js", "vega/vega.min.js"),
        ("LICENSE", "vega/LICENSE"),
    ]),
    "vega-lite": ("6.4.1", [
        ("build/vega-lite.min.js", "vega/vega-lite.min.js"),
        ("LICENSE", "vega/LICENSE-vega-lite"),
    ]),
    "vega-embed": ("7.3.0", [
        ("build/vega-embed.min.js", "vega/vega-embed.min.js"),
        ("LICENSE", "vega/LICENSE-vega-embed"),
    ]),
}
# npm's dist.integrity of each pinned tarball (`npm view NAME@VERSION dist.integrity`).
INTEGRITY = {
    ("mathjax", "3.2.2"): "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/"
                          "FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
    ("@jupyter-widgets/html-manager", "1.0.15"):
        "sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bC"
        "rJ3CQA==",
    ("requirejs", "2.3.8"): "sha512-7/cTSLOdYkNBNJcDMWf+luFvMriVm7eYxp4BcFCsAX0wF421Vyce5SXP17c+"
                            "Jd5otXKGNehIonFlyQXSowL6Mw==",
    ("vega", "6.3.0"): "sha512-L/ykPslBI5QiElzs7jD01c/0EP2yzJ0SdQ3WLZkgBsmykNkhfilWLAa24RzDx67ril"
                       "NLdeBCJVCmogi40xJ6yA==",
    ("vega-lite", "6.4.1"): "sha512-KO3ybHNouRK4A0al/+2fN9UqgTEfxrd/ntGLY933Hg5UOYotDVQdshR3zn7Of"
                            "XwQ7uj0W96Vfa5R+QxO8am3IQ==",
    ("vega-embed", "7.3.0"): "sha512-wQ8s5GaSzqoKgmRfbRolgBrjE2CP7ZKHXqH7NijxMqPjpdWxSs4Dn8tvp9g0gi"
                             "Qvh2cK+3p56sxjWWM0wNngGw==",
}
PRUNE = ["html-manager/*.map", "html-manager/embed.js", "html-manager/libembed-amd.js"]
# Files the pages load (checked by --check and by tests/test_browser.py).
REQUIRED = ["mathjax/tex-mml-chtml.js", "html-manager/embed-amd.js", "requirejs/require.js",
            "vega/vega.min.js", "vega/vega-lite.min.js", "vega/vega-embed.min.js"]


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


def verify(name: str, version: str, data: bytes) -> None:
    """Stop unless ``data`` has the pinned npm integrity hash of ``name@version``."""
    want = INTEGRITY.get((name, version))
    if want is None:
        raise SystemExit(f"vendor_js: no pinned integrity hash for {name}@{version}; add npm's "
                         f"`dist.integrity` to INTEGRITY")
    algo, _, b64 = want.partition("-")
    got = base64.b64encode(hashlib.new(algo, data).digest()).decode()
    if got != b64:
        raise SystemExit(f"vendor_js: {name}@{version} does not match its pinned integrity hash "
                         f"({algo}: expected {b64[:16]}..., got {got[:16]}...); refusing to "
                         f"unpack it (a tampered or corrupted download)")


def _inside(dest: Path, target: Path) -> Path:
    """``target`` if it lies inside ``dest``; else stop (``..``, absolute paths)."""
    root = dest.resolve()
    t = target.resolve()
    if t != root and root not in t.parents:
        raise SystemExit(f"vendor_js: refusing to write {target}: it is outside {dest}")
    return t


def _extract(data: bytes, mapping, dest: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = tar.getmembers()
        for m in members:
            parts = Path(m.name).parts
            if m.name.startswith(("/", "\\")) or ".." in parts:
                raise SystemExit(f"vendor_js: refusing the package member {m.name!r}: its path "
                                 f"leaves the package folder")
        for src, dst in mapping:
            prefix = f"package/{src}"
            hit = False
            for m in members:
                if not m.isfile():      # links and devices are never written
                    continue
                if m.name == prefix or m.name.startswith(prefix + "/"):
                    rel = m.name[len(prefix):].lstrip("/")
                    target = _inside(dest, dest / dst / rel if rel else dest / dst)
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
            verify(name, version, data)
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
