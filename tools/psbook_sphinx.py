"""A small local Sphinx extension for the book (loaded through `_config.yml` local_extensions).

- Drops duplicate `<script>` entries from every page. Jupyter Book 1 + sphinx-thebe add the
  inline `const THEBE_JS_URL = ...` script twice, and the second copy throws
  "Identifier 'THEBE_JS_URL' has already been declared" on every page (tests/test_browser.py
  fails on JavaScript errors).
- Gives folded proofs a title. sphinx-proof writes a `{prf:proof}` without an
  `.admonition-title`; with `:class: dropdown`, sphinx-togglebutton then throws on it and stops,
  leaving every later dropdown on the page (the solutions) open. A small script, run before
  togglebutton's, adds the title.
- Saved widget views (ipywidgets' HTML manager, vendored): RequireJS is told where the manager's
  files are, so its icon fonts load from `_static/html-manager/` and not from a path made of the
  module name; and `MathJax.Hub.Queue`, the MathJax 2 call the widgets make to typeset their
  labels, is provided on top of MathJax 3 (without it every widget label throws).
- Alt text of figures: myst-nb copies only `width`/`height` from an output's image metadata onto
  the `<img>`; `psbook.plots.show` stores the figure's one-sentence description as
  `metadata["image/png"]["alt"]`, and `_image_alt` makes myst-nb put it on the `<img>` (cell-level
  `render_image_options` still win).
- Figures a reader can read and open: `_image_alt` also marks each output image
  (`psbook-output-image`) and carries the size of its smallest text, which
  `psbook.plots.figure_bundle` records as `metadata["image/png"]["min_text_px"]` (image px), as
  a class `psbook-tpx-NNNN` (hundredths of a pixel); `_link_images` then rewrites the page: the
  class becomes `data-min-text-px="16.25"` on the `<img>` (tests/test_browser.py checks that it
  shows at >= 9 CSS px at a 1280 px window) and every output image is wrapped in a link to its
  file (`a.psbook-zoom`), so a click or tap opens it full size (a phone shows a figure at 358 px).
- Alt text of figures inside saved widget views: the widget manager renders an Output widget's
  `image/png` as an `<img>` without alt; `_WIDGET_ALT` copies the alt that the saved widget state
  holds for that image (`metadata["image/png"]["alt"]`, else its `text/plain`) onto the `<img>`.
- Adds `tools/psbook_static/psbook.css` to every page: code and output at 13 px (the code
  column then holds 81 characters at a 1280 px window; tools/fit_code.py keeps code to 80),
  math (display and inline) scrolls inside its own box on a phone, a table that scrolls keeps
  its first column in view, and the claims ledger's rows and `psbook.display.Table`'s (four
  columns or more) become labelled cards under 600 px (their cells' `data-label`).
- Glued numbers without negative zeros (`_glue_no_negative_zero`: "-0.00" -> "0.00"), as
  `psbook.notebook.format_glue` shows them in the Colab notebooks.
- Loads MathJax on every page (`html_assets_policy = "always"`): chapter titles with math appear
  in the navigation of pages that have no math of their own.
- Kernel-free knobs (`psbook.plots.knobs`): an output of type `application/vnd.psbook.knob+json`
  (preferred over the output's other types on HTML pages, `nb_mime_priority_overrides` in
  `_config.yml`) becomes a `<div class="psbook-knob">` holding its Vega-Lite spec and states;
  `psbook_static/psbook_knobs.js` draws it with the vendored vega-embed. Vega, Vega-Lite,
  vega-embed and that script are added only to pages that hold a knob, *before* RequireJS (their
  UMD bundles would register as anonymous AMD modules once RequireJS has loaded).
"""

from __future__ import annotations

import re
from pathlib import Path

STATIC = Path(__file__).resolve().parent / "psbook_static"


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for js in scripts:
        attrs = getattr(js, "attributes", {}) or {}
        key = (getattr(js, "filename", str(js)) or "", attrs.get("body"))  # None and "" alike
        if key in seen:
            continue
        seen.add(key)
        kept.append(js)
    scripts[:] = kept



_PROOF_TITLES = """document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".proof.dropdown").forEach((el) => {
    if (el.querySelector(":scope > .admonition-title")) return;
    const first = el.querySelector(":scope > p");
    if (first && first.firstChild && first.firstChild.nodeType === Node.TEXT_NODE) {
      first.firstChild.textContent = first.firstChild.textContent.replace(/^\\s*Proof\\.\\s*/, "");
    }
    const title = document.createElement("p");
    title.className = "admonition-title";
    title.textContent = "Proof";
    el.insertBefore(title, el.firstChild);
  });
});"""


_MATHJAX2_SHIM = """document.addEventListener("DOMContentLoaded", () => {
  // MathJax 3 has run (deferred scripts run before this event); widgets render on `load`.
  if (!window.MathJax || window.MathJax.Hub || !window.MathJax.startup) return;
  window.MathJax.Hub = {
    Queue: (...jobs) => {
      const els = jobs.filter((j) => Array.isArray(j) && j[0] === "Typeset" && j[2]).map((j) => j[2]);
      MathJax.startup.promise = MathJax.startup.promise
        .then(() => MathJax.typesetPromise(els.length ? els : undefined))
        .catch((e) => console.error("MathJax typeset of a widget label failed", e));
    },
  };
});"""


_WIDGET_ALT = """(() => {
  const alts = new Map();
  const collect = () => {
    document.querySelectorAll('script[type="application/vnd.jupyter.widget-state+json"]')
      .forEach((s) => {
        let state;
        try { state = JSON.parse(s.textContent).state || {}; } catch (e) { return; }
        Object.values(state).forEach((m) => {
          ((m.state || {}).outputs || []).forEach((o) => {
            const png = (o.data || {})["image/png"];
            const alt = ((o.metadata || {})["image/png"] || {}).alt || (o.data || {})["text/plain"];
            if (png && alt) alts.set(png.replace(/\\s/g, "").slice(0, 200), String(alt));
          });
        });
      });
  };
  const label = (root) => {
    root.querySelectorAll && root.querySelectorAll('img:not([alt])').forEach((img) => {
      const src = img.getAttribute("src") || "";
      const k = src.indexOf("base64,");
      if (k < 0) return;
      const alt = alts.get(src.slice(k + 7).replace(/\\s/g, "").slice(0, 200));
      if (alt) img.setAttribute("alt", alt);
    });
  };
  document.addEventListener("DOMContentLoaded", () => {
    collect();
    if (!alts.size) return;
    label(document);
    new MutationObserver((muts) => muts.forEach((m) => m.addedNodes.forEach((n) => {
      if (n.tagName === "IMG") label(n.parentNode); else label(n);
    }))).observe(document.body, {childList: true, subtree: true});
  });
})();"""


def _widget_paths(app, pagename, templatename, context, doctree):
    rel = context["pathto"]("_static/html-manager", 1)
    app.add_js_file(None, priority=100, body="var require = {paths: "
                    f'{{"@jupyter-widgets/html-manager/dist": "{rel}"}}}};')


def _image_alt():
    """Wrap myst-nb's image renderer so that an output's ``alt`` metadata reaches the node."""
    from myst_nb.core.render import NbElementRenderer

    if getattr(NbElementRenderer.render_image, "_psbook_alt", False):
        return
    original = NbElementRenderer.render_image

    def render_image(self, data):
        nodes_ = original(self, data)
        meta = (data.output_metadata or {}).get(data.mime_type, {}) or {}
        alt, tpx = meta.get("alt"), meta.get("min_text_px")
        for node in nodes_:
            if node.tagname != "image":
                continue
            if isinstance(alt, str) and alt.strip() and not node.get("alt"):
                node["alt"] = alt
            node["classes"] = node.get("classes", []) + [OUTPUT_IMAGE]
            if isinstance(tpx, (int, float)) and not isinstance(tpx, bool) and tpx > 0:
                node["classes"].append(f"{_TPX}{round(100 * tpx)}")
        return nodes_

    render_image._psbook_alt = True
    NbElementRenderer.render_image = render_image


OUTPUT_IMAGE = "psbook-output-image"
_TPX = "psbook-tpx-"
_IMG = re.compile(r"<img\b[^>]*>")
_ATTR = re.compile(r'\b(class|src)="([^"]*)"')


def link_images(body: str) -> str:
    """``body`` with each output image (class ``psbook-output-image``) wrapped in a link to its
    file, and its ``psbook-tpx-NNNN`` class turned into ``data-min-text-px``."""
    def one(m):
        tag = m.group(0)
        before = body[:m.start()]
        inside_link = before.rfind("<a ") > before.rfind("</a>")   # Sphinx's scaled-image link
        attrs = dict(_ATTR.findall(tag))
        classes = attrs.get("class", "").split()
        if OUTPUT_IMAGE not in classes:
            return tag
        tpx = [c for c in classes if c.startswith(_TPX) and c[len(_TPX):].isdigit()]
        keep = [c for c in classes if c not in tpx]
        new = re.sub(r'\bclass="[^"]*"', f'class="{" ".join(keep)}"', tag, count=1)
        if tpx:
            px = int(tpx[0][len(_TPX):]) / 100
            new = new.replace("<img", f'<img data-min-text-px="{px:g}"', 1)
        src = attrs.get("src")
        if not src or src.startswith("data:") or inside_link:
            return new
        return (f'<a class="reference internal image-reference psbook-zoom" href="{src}" '
                f'title="Open the figure full size">{new}</a>')

    return _IMG.sub(one, body)


def _link_images(app, pagename, templatename, context, doctree):
    body = context.get("body")
    if body and OUTPUT_IMAGE in body:
        context["body"] = link_images(body)


KNOB_MIME = "application/vnd.psbook.knob+json"
_KNOB_SCRIPTS = ["vega/vega.min.js", "vega/vega-lite.min.js", "vega/vega-embed.min.js",
                 "psbook_knobs.js"]


def _knob_html(payload: dict) -> str:
    import html
    import json

    spec = (json.dumps(payload, separators=(",", ":"))
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))
    name = html.escape(str(payload.get("name", "knob")), quote=True)
    alt = html.escape(str(payload.get("alt", "")), quote=True)
    return (f'<figure class="psbook-knob" data-knob="{name}" role="group" aria-label="{alt}">'
            f'<div class="psbook-knob-view"></div>'
            f'<noscript><p>{alt} (This interactive figure needs JavaScript; the static '
            f'figure beside it shows every state.)</p></noscript>'
            f'<script type="application/json" class="psbook-knob-data">{spec}</script></figure>')


def _knob_renderer():
    """Wrap myst-nb's mime dispatch so that a knob output becomes its HTML container."""
    from docutils import nodes
    from myst_nb.core.render import NbElementRenderer

    if getattr(NbElementRenderer.render_mime_type, "_psbook_knob", False):
        return
    original = NbElementRenderer.render_mime_type

    def render_mime_type(self, data):
        if data.mime_type == KNOB_MIME:
            payload = data.content
            if isinstance(payload, str):
                import json
                payload = json.loads(payload)
            return [nodes.raw("", _knob_html(payload), format="html", classes=["psbook-knob"])]
        return original(self, data)

    render_mime_type._psbook_knob = True
    NbElementRenderer.render_mime_type = render_mime_type


def _knob_scripts(app, pagename, templatename, context, doctree):
    if 'class="psbook-knob"' not in (context.get("body") or ""):
        return
    for k, js in enumerate(_KNOB_SCRIPTS):   # before RequireJS (myst-nb adds it at 200+)
        app.add_js_file(js, priority=110 + k)
def _glue_no_negative_zero():
    """myst-nb's ``{glue:text}`` formatting without negative zeros ("-0.00" -> "0.00"), the same
    step as ``psbook.notebook.format_glue`` in the Colab notebooks."""
    from myst_nb.ext.glue import crossref, roles

    from psbook.notebook import no_negative_zero

    for mod in (roles, crossref):
        original = mod.format_plain_text
        if getattr(original, "_psbook_zero", False):
            continue

        def format_plain_text(text, fmt_spec, _original=original):
            out = _original(text, fmt_spec)
            fixed = no_negative_zero(out)
            return "+" + fixed if fixed != out and "+" in fmt_spec else fixed

        format_plain_text._psbook_zero = True
        mod.format_plain_text = format_plain_text


def _static_path(app, config):
    if str(STATIC) not in config.html_static_path:
        config.html_static_path.append(str(STATIC))


def setup(app):
    _image_alt()
    _knob_renderer()
    app.connect("html-page-context", _knob_scripts, priority=400)
    app.connect("html-page-context", _link_images, priority=450)
    _glue_no_negative_zero()
    app.connect("config-inited", _static_path)
    app.add_css_file("psbook.css", priority=900)
    app.connect("html-page-context", _widget_paths, priority=400)
    app.add_js_file(None, body=_MATHJAX2_SHIM, priority=100)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    app.add_js_file(None, body=_PROOF_TITLES, priority=100)
    app.add_js_file(None, body=_WIDGET_ALT, priority=100)
    app.set_html_assets_policy("always")
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
