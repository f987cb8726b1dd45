"""No page loads code or styles from a CDN (issue 32 item 7): MathJax and the widget manager are
vendored (tools/vendor_js.py), and the widget manager's fallback for modules it does not bundle
points at our own folder, not at cdn.jsdelivr.net (unused today, but a new widget module would
otherwise load from it without an integrity check).

Static checks: the configuration always; every built page when there is a built book
(_build/html, or PSBOOK_HTML_DIR)."""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("PSBOOK_HTML_DIR", ROOT / "_build" / "html"))
_REMOTE = re.compile(r"^\s*(https?:)?//", re.I)


class _Refs(HTMLParser):
    """Remote URLs a page would *load*: script src, stylesheet/preload/module links, and
    the widget manager's CDN attribute (anchors are links for the reader, not loads)."""

    def __init__(self):
        super().__init__()
        self.remote: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        urls = []
        if tag == "script":
            urls.append(a.get("src"))
        if tag == "link" and set((a.get("rel") or "").lower().split()) & {
                "stylesheet", "preload", "modulepreload", "prefetch", "import"}:
            urls.append(a.get("href"))
        for k, v in a.items():
            if "cdn" in k.lower():
                urls.append(v or "")
        self.remote += [f"<{tag}> {u}" for u in urls if u is not None and _REMOTE.match(u)]


def remote_loads(html: str) -> list[str]:
    p = _Refs()
    p.feed(html)
    return p.remote


def test_the_check_flags_a_cdn_script_and_the_widget_cdn():
    page = ('<script src="https://cdn.jsdelivr.net/npm/x.js"></script>'
            '<script src="_static/require.js" data-jupyter-widgets-cdn="https://unpkg.com/">'
            '</script><link rel="stylesheet" href="//fonts.example.com/a.css">'
            '<a href="https://colab.research.google.com/">Colab</a>'
            '<script src="_static/mathjax/tex-mml-chtml.js"></script>')
    assert len(remote_loads(page)) == 3


def test_the_configuration_names_no_remote_script():
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]
    found = []

    def walk(x, where):
        if isinstance(x, dict):
            for k, v in x.items():
                if isinstance(k, str) and _REMOTE.match(k):
                    found.append(f"{where}: {k}")
                walk(v, f"{where}.{k}")
        elif isinstance(x, list):
            for i, v in enumerate(x):
                walk(v, f"{where}[{i}]")
        elif isinstance(x, str) and _REMOTE.match(x):
            found.append(f"{where}: {x}")

    for key in ("nb_ipywidgets_js", "mathjax_path", "html_js_files", "html_css_files"):
        walk(cfg.get(key), key)
    assert found == []
    widgets = cfg["nb_ipywidgets_js"]["html-manager/embed-amd.js"]
    assert "data-jupyter-widgets-cdn" in widgets      # absent, the manager falls back to a CDN


def test_no_built_page_loads_from_a_cdn():
    pages = sorted(p for p in HTML.rglob("*.html") if "_static" not in p.parts) \
        if HTML.is_dir() else []
    if not pages:
        pytest.skip(f"no built book in {HTML}")
    bad = {str(p.relative_to(HTML)): r for p in pages
           if (r := remote_loads(p.read_text(errors="replace")))}
    assert bad == {}
