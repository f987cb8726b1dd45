"""Every page of the built book in a real browser (headless Chromium, driven by Playwright).

Run after the book is built (`make test` runs it after `jupyter-book build`). A page fails when:
math is not typeset or MathJax reports an error; an image did not load; a script or stylesheet
did not load (the pages must render offline: MathJax and the widget manager are vendored into
_static/vendor/); a JavaScript error is thrown; an output holds a traceback; the page text shows
raw `{glue…}`, `{eq}` or `??` (an unresolved reference), or raw Markdown (`**`, a backtick) in its
prose; an `<img>` has no alt text; a code or output block needs horizontal scrolling (at 1280 px);
the Colab button's URL is not the one _config.yml implies; a widget has no static figure beside it
(readers of the HTML have no kernel); an output shows a path of the building machine
(tools/page_metrics.py MACHINE_PATH); an equation (inline or display) is clipped by a box that
hides its overflow instead of scrolling it (at both widths); a table loses its labels at 390 px
(its rows stack into cells without their column's name, its header is hidden while its cells
stay a table, or it scrolls sideways without a sticky first column); at 1280 px, a figure's
smallest text shows under 9 CSS px (the image's `data-min-text-px`, which
`psbook.plots.show` measures and tools/psbook_sphinx.py writes, scaled by its shown width) or a
knob's SVG text does; an output image is not a link to its file (a tap must open it full size)
or does not say how small its text is. Every page is opened twice: at 1280 px (a laptop) and at
390 px (a phone), where the text column must not overflow the screen (code blocks may scroll
inside their own box there; cells tagged `full-width` may use the margin by design). One screenshot per page and width goes to _build/screenshots/.

Chromium: $PSBOOK_CHROMIUM, else chromium / chromium-browser / google-chrome on PATH (Debian:
`apt-get install chromium`; .ci/run installs it). Without one the test is skipped with a message,
except under CI (CI=true), where it fails. Without a built book it is skipped, except when
PSBOOK_BROWSER_REQUIRED=1 (the `browser` part of .ci/test-all.sh).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from page_metrics import MACHINE_PATH  # noqa: E402  (one definition for both checks)

MIN_TEXT_PX = 9.0  # CSS px: psbook.plots.core.MIN_TEXT_PX (this test runs without psbook)
HTML = Path(os.environ.get("PSBOOK_HTML_DIR", ROOT / "_build" / "html"))  # override: debugging
SHOTS = ROOT / "_build" / "screenshots"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
REQUIRED = os.environ.get("PSBOOK_BROWSER_REQUIRED", "") == "1"


def _chromium() -> str | None:
    env = os.environ.get("PSBOOK_CHROMIUM")
    if env:
        return env
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


_REFRESH = re.compile(r'<meta http-equiv="Refresh" content="0; url=([^"]+)"', re.I)


def _redirect_target(page: Path) -> str | None:
    """The target of a redirect-only page (the root index.html the toc writes), else None."""
    m = _REFRESH.search(page.read_text(errors="replace")[:2000])
    return m.group(1) if m else None


def _pages() -> list[Path]:
    if not HTML.is_dir():
        return []
    skip = {"genindex.html", "search.html"}
    return sorted(p for p in HTML.rglob("*.html")
                  if p.name not in skip and "_static" not in p.parts and "_sources" not in p.parts
                  and _redirect_target(p) is None)  # a redirect navigates away mid-check


PAGES = _pages()


def test_redirect_pages_point_at_built_pages():
    """Redirect-only pages are not rendered (their navigation would race the checks), but their
    target must be a page that the build wrote (and that the checks below open)."""
    if not HTML.is_dir():
        pytest.skip("no built book in _build/html")
    redirects = {p: _redirect_target(p) for p in HTML.rglob("*.html")
                 if "_static" not in p.parts and _redirect_target(p)}
    for page, target in redirects.items():
        assert (page.parent / target).is_file(), f"{page} redirects to missing {target}"


def expected_colab_url(rel: Path) -> str | None:
    """The Colab URL _config.yml implies for a chapter page, given its path relative to the
    HTML root (None for other pages)."""
    if not re.match(r"\d\d-", rel.stem):
        return None
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    m = re.match(r"https://github\.com/([^/]+)/([^/]+?)/?$", cfg["repository"]["url"])
    base = cfg["launch_buttons"]["colab_url"].rstrip("/")
    nb = rel.with_suffix(".ipynb").as_posix()
    return f"{base}/github/{m.group(1)}/{m.group(2)}/blob/{cfg['repository']['branch']}/{nb}"


@pytest.fixture(scope="module")
def browser():
    exe = _chromium()
    if exe is None:
        msg = ("no Chromium found (apt-get install chromium, or set PSBOOK_CHROMIUM): "
               "the browser check of the built pages did not run")
        if IN_CI:
            pytest.fail(msg + " -- under CI it must run")
        pytest.skip(msg)
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--allow-file-access-from-files"])
        yield b
        b.close()


def test_there_are_pages_to_check():
    if not PAGES:
        msg = f"no built book in {HTML}: run `make book` (jupyter-book build .) first"
        if REQUIRED:
            pytest.fail(msg)
        pytest.skip(msg)
    assert any(re.match(r"\d\d-", p.stem) for p in PAGES), "no chapter pages in the build"


_MATHJAX_DONE = """async () => {
  if (!window.MathJax || !MathJax.startup || !MathJax.startup.promise) return 'MathJax not loaded';
  await MathJax.startup.promise;
  // Typesetting of late parts (navigation) may lag the first promise. Wait until every math
  // element is typeset, up to 60 s: the check returns as soon as it is, so a fast page costs
  // nothing, and two Chromiums sharing 2 busy cores (CI runs this with -n 2) still have ample
  // margin (a fixed 5 s wait was a timeout without margin: a flaky red run under load).
  const deadline = Date.now() + 60000;
  while (Date.now() < deadline) {
    const left = Array.from(document.querySelectorAll('span.math, div.math'))
        .filter(e => !e.querySelector('mjx-container')).length;
    if (!left) break;
    await new Promise(r => setTimeout(r, 100));
  }
  return 'ok';
}"""

# Saved widget views are rendered by the widget manager after `load`: wait for that condition
# (not a fixed 300 ms, which a loaded machine can overrun), up to 30 s.
_WIDGETS_DONE = """() => {
  const views = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]');
  return views.length === 0 ||
      document.querySelectorAll('.jupyter-widgets, .widget-subarea > *').length > 0;
}"""

_INSPECT = """() => {
  const out = {};
  const math = Array.from(document.querySelectorAll('span.math, div.math'));
  out.math = math.length;
  out.untypeset = math.filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 80));
  out.merror = Array.from(document.querySelectorAll('mjx-merror, [data-mjx-error]'))
      .map(e => (e.getAttribute('data-mjx-error') || e.textContent).slice(0, 120));
  out.badimg = Array.from(document.images)
      .filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src'));
  const main = document.querySelector('main') || document.body;
  out.text = main.innerText;
  out.tracebacks = Array.from(document.querySelectorAll('.cell_output, .output'))
      .filter(e => /Traceback \\(most recent call last\\)/.test(e.innerText) || e.querySelector('.traceback'))
      .map(e => e.innerText.slice(0, 200));
  out.noalt = Array.from(document.images)
      .filter(i => !(i.getAttribute('alt') || '').trim()).map(i => (i.getAttribute('src') || '').slice(0, 80));
  // prose only: code, outputs and math may hold ** and backticks legitimately
  const prose = main.cloneNode(true);
  prose.querySelectorAll('pre, code, kbd, .highlight, .cell_input, .cell_output, .output, .math, ' +
      'mjx-container, script, style, textarea, .MathJax').forEach(e => e.remove());
  out.prose = prose.textContent;
  // blocks that need horizontal scrolling (code cells, outputs, tables)
  const scrolls = e => e.scrollWidth > e.clientWidth + 1;
  out.scrolling = Array.from(main.querySelectorAll(
      'pre, div.highlight, .cell_output, .output, .output table, table'))
      .filter(e => e.clientWidth > 0 && e.checkVisibility() && scrolls(e))  // not folded away
      .map(e => {
        const line = (e.textContent || '').split('\\n')
            .reduce((a, b) => (b.length > a.length ? b : a), '');
        return `${e.tagName.toLowerCase()}.${(e.className || '').toString().split(' ')[0]} ` +
               `(${e.scrollWidth} px of content in ${e.clientWidth} px): ${line.slice(0, 100)}`;
      });
  // the text column at this width: the page must not scroll sideways, nor the column overflow
  const col = document.querySelector('article.bd-article') || document.querySelector('main')
      || document.body;
  const right = Math.min(col.getBoundingClientRect().right, window.innerWidth);
  const clipped = e => {
    if (e.closest('.tag_full-width, .tag_full_width, .full-width, .full_width')) return true;
    for (let a = e.parentElement; a && a !== col; a = a.parentElement) {
      const ox = getComputedStyle(a).overflowX;
      if (ox === 'auto' || ox === 'scroll' || ox === 'hidden' || ox === 'clip') return true;
    }
    return false;
  };
  out.pageWidth = document.documentElement.scrollWidth;
  out.viewWidth = window.innerWidth;
  out.overflow = Array.from(col.querySelectorAll('*'))
      .filter(e => { const r = e.getBoundingClientRect();
                     return r.width > 0 && r.right > right + 1 && e.checkVisibility()
                            && !clipped(e); })
      .filter((e, _, all) => !all.includes(e.parentElement))   // the outermost offender only
      .slice(0, 5)
      .map(e => `<${e.tagName.toLowerCase()} class="${(e.className || '').toString().slice(0, 40)}">` +
                ` ends at ${Math.round(e.getBoundingClientRect().right)} px: ` +
                (e.innerText || e.textContent || '').trim().slice(0, 60));
  // outputs' text, for paths of the building machine (checked in Python)
  out.outputs = Array.from(document.querySelectorAll('.cell_output, .output'))
      .filter(e => !e.parentElement.closest('.cell_output, .output')).map(e => e.innerText);
  // figures: the smallest text as shown (image px of data-min-text-px, scaled to the shown
  // width), and whether an output image opens its file; knobs' SVG text as shown
  out.figures = Array.from(document.images)
      .filter(i => i.closest('.cell_output, .output') && !i.closest('.jupyter-widgets')
                   && i.checkVisibility() && i.clientWidth > 0 && i.naturalWidth > 0)
      .map(i => {
        const a = i.closest('a[href]');
        const href = a ? new URL(a.getAttribute('href'), document.baseURI).href : null;
        const tpx = parseFloat(i.dataset.minTextPx);
        return {src: (i.getAttribute('src') || '').slice(-40), linked: href === i.src,
                tpx: isNaN(tpx) ? null : tpx,
                shown: isNaN(tpx) ? null : tpx * Math.min(1, i.clientWidth / i.naturalWidth),
                width: i.clientWidth, natural: i.naturalWidth};
      });
  out.knobText = Array.from(document.querySelectorAll('figure.psbook-knob svg'))
      .filter(svg => svg.checkVisibility())
      .map(svg => {
        const vb = svg.viewBox && svg.viewBox.baseVal;
        const w = (vb && vb.width) || svg.width.baseVal.value;
        const scale = w ? svg.getBoundingClientRect().width / w : 1;
        const sizes = Array.from(svg.querySelectorAll('text')).filter(t => t.textContent.trim())
            .map(t => parseFloat(getComputedStyle(t).fontSize) * scale);
        return sizes.length ? Math.min(...sizes) : null;
      }).filter(x => x !== null);
  // equations cut by a box that hides its overflow (a scrolling box shows what it holds)
  out.clippedMath = Array.from(document.querySelectorAll('mjx-container'))
      .filter(m => m.checkVisibility() && m.getBoundingClientRect().width > 0)
      .filter(m => {
        const r = m.getBoundingClientRect();
        let left = r.left, right = r.right;
        for (let a = m.parentElement; a && a !== document.documentElement; a = a.parentElement) {
          const ox = getComputedStyle(a).overflowX, ar = a.getBoundingClientRect();
          if (ox === 'auto' || ox === 'scroll') {   // scrolls: what is shown is this box
            left = Math.max(left, ar.left); right = Math.min(right, ar.right); continue;
          }
          if ((ox === 'hidden' || ox === 'clip') && (right > ar.right + 1 || left < ar.left - 1))
            return true;
        }
        return false;
      })
      .map(m => `${m.getAttribute('display') === 'true' ? 'display' : 'inline'} math ` +
                `${Math.round(m.getBoundingClientRect().width)} px wide: ` +
                (m.textContent || '').slice(0, 50));
  // tables: each cell keeps its column's name (a visible header row, or a label before the
  // cell when rows stack into cards); a table that scrolls keeps its first column in view
  const seen = e => e.checkVisibility() && e.getBoundingClientRect().height > 1;
  out.tables = Array.from(main.querySelectorAll('table'))
      .filter(t => t.checkVisibility() && t.querySelector('td'))
      .map(t => {
        const name = ((t.querySelector('caption') || {}).textContent ||
                      (t.querySelector('th, td') || {}).textContent || '').trim().slice(0, 50);
        const heads = Array.from(t.querySelectorAll('thead th'));
        const cells = Array.from(t.querySelectorAll('tbody tr')).flatMap(
            tr => Array.from(tr.children).slice(1).filter(c => c.tagName === 'TD'));
        const stacked = cells.filter(c => getComputedStyle(c).display !== 'table-cell');
        const problems = [];
        const unlabelled = stacked.filter(c => c.textContent.trim()).filter(c => {
          const before = getComputedStyle(c, '::before').content;
          return !(c.dataset.label || '').trim() || !before || before === 'none' ||
                 before === 'normal' || before === '""';
        });
        if (unlabelled.length)
          problems.push(`${unlabelled.length} stacked cells without their column's name, e.g. ` +
                        JSON.stringify(unlabelled[0].textContent.trim().slice(0, 30)));
        if (!stacked.length && heads.length && !heads.some(seen))
          problems.push('its header row is hidden');
        let box = t.parentElement;
        while (box && box !== main && getComputedStyle(box).overflowX === 'visible')
          box = box.parentElement;
        if (!stacked.length && box && box !== main && box.scrollWidth > box.clientWidth + 1) {
          const first = t.querySelector('tbody tr > :first-child');
          if (first && getComputedStyle(first).position !== 'sticky')
            problems.push(`it scrolls sideways (${box.scrollWidth} px in ${box.clientWidth}) ` +
                          'and its first column scrolls away');
        }
        return problems.length ? `table ${JSON.stringify(name)}: ${problems.join('; ')}` : null;
      }).filter(x => x);
  out.colab = Array.from(document.querySelectorAll('a[href*="colab.research.google.com"]'))
      .map(a => a.getAttribute('href'));
  // widgets: saved views; each needs a static figure in the same section
  const views = Array.from(document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]'));
  out.widgets = views.length;
  out.widgetsRendered = document.querySelectorAll('.jupyter-widgets, .widget-subarea > *').length;
  out.lonelyWidgets = views.filter(v => {
      const sec = v.closest('section') || document.body;
      const figs = Array.from(sec.querySelectorAll('img')).filter(i => !i.closest('.jupyter-widgets'));
      return figs.length === 0;
  }).map(v => (v.closest('section') || {id: '?'}).id);
  return out;
}"""


WIDE, PHONE = 1280, 390   # a laptop and a phone (CSS px)


def problems_of(browser, page: Path, html_root: Path = HTML, shots: Path | None = SHOTS,
                width: int = WIDE) -> list:
    """Open one page at a viewport ``width`` px wide; return what is wrong with it (empty when
    it renders as it should). At ``WIDE`` a code or output block that scrolls sideways is a
    problem; at narrower widths only overflow of the text column is (code may scroll there)."""
    ctx = browser.new_context(viewport={"width": width, "height": 900})
    tab = ctx.new_page()
    errors, failed = [], []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.on("requestfailed", lambda r: failed.append(f"{r.url} ({r.failure})"))
    try:
        tab.goto(page.as_uri(), wait_until="load", timeout=60_000)
        state = tab.evaluate(_MATHJAX_DONE) if tab.evaluate(
            "() => document.querySelectorAll('span.math, div.math').length") else "no math"
        try:                       # the widget manager renders after `load`
            tab.wait_for_function(_WIDGETS_DONE, timeout=30_000)
        except Exception:          # reported below as "saved widget views were not rendered"
            pass
        info = tab.evaluate(_INSPECT)
        if shots is not None:
            shots.mkdir(parents=True, exist_ok=True)
            name = page.relative_to(html_root).with_suffix("").as_posix().replace("/", "__")
            suffix = "" if width == WIDE else f"@{width}"
            tab.screenshot(path=str(shots / f"{name}{suffix}.png"), full_page=True)
    finally:
        ctx.close()

    problems = []
    if state not in ("ok", "no math"):
        problems.append(f"math: {state}")
    if info["untypeset"]:
        problems.append(f"{len(info['untypeset'])} math elements not typeset, e.g. "
                        f"{info['untypeset'][:2]}")
    if info["merror"]:
        problems.append(f"MathJax errors: {info['merror'][:3]}")
    if info["badimg"]:
        problems.append(f"images that did not load: {info['badimg'][:5]}")
    if failed:
        problems.append(f"requests that failed (the page must render offline): {failed[:5]}")
    if errors:
        problems.append(f"JavaScript errors: {errors[:3]}")
    if info["tracebacks"]:
        problems.append(f"outputs with a traceback: {info['tracebacks'][:2]}")
    for raw in ("{glue", "{eq}", "??"):
        k = info["text"].find(raw)
        if k >= 0:
            problems.append(f"raw {raw!r} in the page text: …{info['text'][max(0, k - 60):k + 60]!r}…")
    for raw in ("**", "`"):
        k = info["prose"].find(raw)
        if k >= 0:
            problems.append(f"raw Markdown {raw!r} in the page's prose: "
                            f"…{' '.join(info['prose'][max(0, k - 60):k + 60].split())!r}…")
    if info["noalt"]:
        problems.append(f"{len(info['noalt'])} images without alt text, e.g. {info['noalt'][:3]}")
    if width >= WIDE and info["scrolling"]:
        problems.append(f"{len(info['scrolling'])} code/output blocks need horizontal scrolling "
                        f"at {width} px, e.g. {info['scrolling'][:3]}")
    if info["pageWidth"] > info["viewWidth"] + 1:
        problems.append(f"the page scrolls sideways at {width} px: it is {info['pageWidth']} px "
                        f"wide")
    if info["overflow"]:
        problems.append(f"the text column overflows at {width} px: {info['overflow'][:3]}")
    paths = sorted({m.group(0) for text in info["outputs"] for m in MACHINE_PATH.finditer(text)})
    if paths:
        k = next(t for t in info["outputs"] if MACHINE_PATH.search(t))
        problems.append(f"outputs show paths of the building machine {paths[:3]}, e.g. "
                        f"{k[max(0, MACHINE_PATH.search(k).start() - 40):][:100]!r}")
    if info["clippedMath"]:
        problems.append(f"{len(info['clippedMath'])} equations clipped at {width} px (they must "
                        f"scroll in their own box): {info['clippedMath'][:3]}")
    if width <= PHONE and info["tables"]:
        problems.append(f"tables lose their labels at {width} px: {info['tables'][:3]}")
    if width >= WIDE:
        small = [f"{f['src']} ({f['shown']:.1f} px: {f['tpx']:g} image px shown at "
                 f"{f['width']} of {f['natural']} px)" for f in info["figures"]
                 if f["shown"] is not None and f["shown"] < MIN_TEXT_PX - 0.05]
        if small:
            problems.append(f"{len(small)} figures whose smallest text shows under "
                            f"{MIN_TEXT_PX:g} CSS px at {width} px: {small[:3]}")
        unmeasured = [f["src"] for f in info["figures"] if f["tpx"] is None]
        if unmeasured:
            problems.append(f"{len(unmeasured)} output images without data-min-text-px (show "
                            f"figures with psbook.plots.show): {unmeasured[:3]}")
        knobs = [round(x, 1) for x in info["knobText"] if x < MIN_TEXT_PX - 0.05]
        if knobs:
            problems.append(f"knobs whose smallest text shows at {knobs} CSS px at {width} px")
    unlinked = [f["src"] for f in info["figures"] if not f["linked"]]
    if unlinked:
        problems.append(f"{len(unlinked)} output images that do not open full size on a click "
                        f"(no link to their file): {unlinked[:3]}")
    want = expected_colab_url(page.relative_to(html_root))
    if want is not None:
        if not info["colab"]:
            problems.append("no Colab button")
        elif any(h != want for h in info["colab"]):
            problems.append(f"Colab button {info['colab'][0]} != {want} (from _config.yml)")
    if info["lonelyWidgets"]:
        problems.append(f"widgets without a static figure in their section: {info['lonelyWidgets']}")
    if info["widgets"] and not info["widgetsRendered"]:
        problems.append("saved widget views were not rendered (widget manager missing?)")
    return problems


@pytest.mark.parametrize("width", [WIDE, PHONE], ids=lambda w: f"{w}px")
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(HTML).as_posix())
def test_page_renders(browser, page: Path, width: int):
    problems = problems_of(browser, page, width=width)
    assert not problems, (f"{page.relative_to(HTML).as_posix()} at {width} px:\n  - "
                          + "\n  - ".join(problems))


_BROKEN = """<!DOCTYPE html><html><head><script>window.MathJax = {};</script></head><body><main>
<p>Value {glue:text}`r_x` and see (??), it is **higher**.</p><p><span class="math">\\(x^2\\)</span></p>
<pre style="overflow-x: auto">x = 1  # a code line far too long for the column: """ + "#" * 200 + """</pre>
<img src="missing.png"><div class="cell_output"><pre>Traceback (most recent call last):
  File "x", line 1</pre></div>
<a href="https://colab.research.google.com/github/o/r/blob/main/book/99-x.ipynb">Colab</a>
<section id="s"><script type="application/vnd.jupyter.widget-view+json">{}</script></section>
<div class="cell_output"><pre>corpus read from /work/shared/data/pile</pre></div>
<div class="cell_output"><img src="wide.png" style="width: 600px" data-min-text-px="16.25"
  alt="A 1600 px figure shown at 600 px."></div>
<div class="cell_output"><a href="small.png"><img src="small.png" alt="A figure."></a></div>
<p>Cut: <span style="display: inline-block; max-width: 100px; overflow: hidden"><mjx-container
  style="display: inline-block; width: 300px">x + y + z</mjx-container></span></p>
<figure class="psbook-knob"><svg width="200" height="50" viewBox="0 0 400 100"><text x="0" y="20"
  font-size="10">tiny</text></svg></figure>
<table><caption>stacked</caption><thead style="display: none"><tr><th>a</th><th>b</th></tr></thead>
<tbody><tr><td style="display: block">x</td><td style="display: block">2</td></tr></tbody></table>
<table><caption>headless</caption><thead style="display: none"><tr><th>a</th><th>b</th></tr>
</thead><tbody><tr><td>x</td><td>2</td></tr></tbody></table>
<div style="width: 200px; overflow-x: auto"><table><caption>scrolls</caption><thead><tr><th>a</th>
<th>b</th></tr></thead><tbody><tr><td>x</td><td style="min-width: 400px">2</td></tr></tbody>
</table></div>
<script>null.boom;</script></main></body></html>"""


def _png(path: Path, width: int, height: int) -> None:
    """A blank grey PNG of the given size (for pages that test image checks)."""
    import struct
    import zlib

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height,
                                                                      8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_the_check_fails_a_broken_page(browser, tmp_path):
    """Negative control: a page with each defect the check looks for."""
    page = tmp_path / "book" / "99-broken.html"
    page.parent.mkdir()
    page.write_text(_BROKEN)
    _png(page.parent / "wide.png", 1600, 300)
    _png(page.parent / "small.png", 400, 300)
    text = "\n".join(problems_of(browser, page, html_root=tmp_path, shots=None))
    for what in ("math: MathJax not loaded", "not typeset", "images that did not load",
                 "JavaScript errors", "traceback", "'{glue'", "'??'", "Colab button",
                 "without a static figure", "requests that failed", "raw Markdown '**'",
                 "without alt text", "need horizontal scrolling",
                 "paths of the building machine ['/work/']",
                 "1 equations clipped at 1280 px", "inline math 300 px wide",
                 "1 figures whose smallest text shows under 9 CSS px at 1280 px: "
                 "['wide.png (6.1 px",
                 "1 output images without data-min-text-px", "knobs whose smallest text shows "
                 "at [5", "1 output images that do not open full size"):
        assert what in text, f"the check missed {what!r}:\n{text}"
    assert "tables lose their labels" not in text     # a phone's check
    text = "\n".join(problems_of(browser, page, html_root=tmp_path, shots=None, width=PHONE))
    for what in ("equations clipped at 390 px", "tables lose their labels at 390 px",
                 "table \"stacked\": 1 stacked cells without their column",
                 "table \"headless\": its header row is hidden",
                 "table \"scrolls\": it scrolls sideways", "and its first column scrolls away"):
        assert what in text, f"the check missed {what!r}:\n{text}"


_FITS = """<!DOCTYPE html><html><head><style>pre { overflow-x: auto; }
img { max-width: 100%; }
@media (max-width: 600px) {
  table.cards thead { position: absolute; width: 1px; height: 1px; overflow: hidden; }
  table.cards td { display: block; }
  table.cards td::before { content: attr(data-label) ": "; }
}
.wrap { max-width: 100%; overflow-x: auto; }
.wrap tr > :first-child { position: sticky; left: 0; background: white; }
</style></head><body><main>
<article class="bd-article"><p>Short prose, with <code>x**2</code> in code and backticks in the
block below.</p><pre>print(`x` ** 2)</pre><svg width="10" height="10"></svg>
<div class="cell_output"><a href="fig.png"><img src="fig.png" data-min-text-px="16.25"
  alt="A figure 1170 px wide."></a></div>
<p>Long: <span style="display: inline-block; max-width: 100%; overflow-x: auto"><mjx-container
  style="display: inline-block; width: 500px">x + y + z</mjx-container></span></p>
<table class="cards"><thead><tr><th>name</th><th>value</th><th>seeds</th></tr></thead><tbody>
<tr><td data-label="name">R_cos</td><td data-label="value">0.41</td><td data-label="seeds">3</td>
</tr></tbody></table>
<div class="wrap"><table><thead><tr><th>name</th><th>a long column</th></tr></thead><tbody>
<tr><th>R_cos</th><td style="min-width: 500px">0.41</td></tr></tbody></table></div>
</article></main></body></html>"""

_TOO_WIDE = """<!DOCTYPE html><html><head></head><body><main><article class="bd-article">
<p>Prose.</p><div style="width: 600px">a block wider than a phone</div></article></main></body></html>"""


def test_the_check_passes_a_page_that_fits_and_flags_overflow_on_a_phone(browser, tmp_path):
    """Controls for the new checks: code may hold ** and backticks; a linked figure whose text
    shows at 9.6 px, a long equation that scrolls in its box, a table whose rows become
    labelled cards on a phone and one that scrolls with a sticky first column pass; a
    fixed-width block wider than a phone overflows the column at 390 px but not at 1280 px."""
    ok = tmp_path / "ok.html"
    ok.write_text(_FITS)
    _png(tmp_path / "fig.png", 1170, 400)  # 16.25 px text shown at 688 of 1170: 9.6 px
    for width in (WIDE, PHONE):
        assert problems_of(browser, ok, html_root=tmp_path, shots=None, width=width) == []
    wide = tmp_path / "wide.html"
    wide.write_text(_TOO_WIDE)
    assert problems_of(browser, wide, html_root=tmp_path, shots=None, width=WIDE) == []
    text = "\n".join(problems_of(browser, wide, html_root=tmp_path, shots=None, width=PHONE))
    assert "text column overflows at 390 px" in text and "scrolls sideways" in text, text


# ---- kernel-free knobs (psbook.plots.knobs) --------------------------------------------------

def _knob_pages() -> list[Path]:
    return [p for p in PAGES if 'class="psbook-knob"' in p.read_text(errors="replace")]


KNOB_PAGES = _knob_pages()

_KNOBS_READY = """() => Array.from(document.querySelectorAll('figure.psbook-knob'))
    .every(f => f.dataset.ready === '1' || f.dataset.ready === 'error')"""

# What a knob draws now: its parameters' values, the texts of its SVG and a fingerprint of its
# marks (fills and paths), read from the page.
_KNOB_DRAWN = """(i) => {
  const fig = document.querySelectorAll('figure.psbook-knob')[i];
  const payload = JSON.parse(fig.querySelector('script.psbook-knob-data').textContent);
  const values = {};
  Object.keys(payload.controls).forEach(c => { values[c] = fig.psbookView.signal('knob_' + c); });
  const svg = fig.querySelector('.psbook-knob-view svg');
  const texts = Array.from(svg.querySelectorAll('text')).map(t => t.textContent);
  const marks = Array.from(svg.querySelectorAll('path, rect, line'))
      .map(e => ['fill', 'd', 'transform', 'x2', 'y2']
                 .map(a => e.getAttribute(a) || '').join(' ')).join('|');
  const r = fig.getBoundingClientRect(), s = svg.getBoundingClientRect();
  return {values, texts, marks, ready: fig.dataset.ready, right: Math.max(r.right, s.right),
          width: window.innerWidth};
}"""


def _open_offline(browser, page: Path, width: int):
    """A tab on ``page`` that may load only local files: every other request is recorded and
    refused."""
    ctx = browser.new_context(viewport={"width": width, "height": 900})
    tab = ctx.new_page()
    net, errors = [], []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    local = ("file:", "data:", "blob:", "about:")
    tab.on("request", lambda r: None if r.url.startswith(local) else net.append(r.url))
    # Only requests that leave the disk are routed (and refused): routing every local file
    # through this process would slow the page's timed load.
    tab.route(re.compile(r"^(?!file:|data:|blob:|about:)"), lambda r: r.abort())
    return ctx, tab, net, errors


def _js(v) -> str:
    """``String(v)`` in JavaScript (how the page writes a control's value): 1.0 -> "1"."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _key(settings: dict) -> str:
    """A setting as a lookup key, numbers compared as numbers (the page holds 1, Python 1.0)."""
    return json.dumps({k: float(v) if isinstance(v, (int, float)) and not isinstance(v, bool)
                       else v for k, v in settings.items()}, sort_keys=True)


def _set_control(tab, i: int, control: str, value) -> None:
    """Turn control ``control`` of the i-th knob to ``value`` as a reader would (click the radio
    button, pick the option, drag the slider)."""
    fig = tab.locator("figure.psbook-knob").nth(i)
    name = f"knob_{control}"
    radio = fig.locator(f'input[type="radio"][name="{name}"][value="{_js(value)}"]')
    if radio.count():
        radio.click()
        return
    select = fig.locator(f'select[name="{name}"]')
    if select.count():
        select.select_option(label=_js(value))
        return
    slider = fig.locator(f'input[type="range"][name="{name}"]')
    assert slider.count(), f"knob {i}: no control for {control!r} on the page"
    slider.evaluate("(e, v) => { e.value = v; e.dispatchEvent(new Event('input', "
                    "{bubbles: true})); }", str(value))


@pytest.mark.parametrize("width", [WIDE, PHONE], ids=lambda w: f"{w}px")
@pytest.mark.parametrize("page", KNOB_PAGES, ids=lambda p: p.relative_to(HTML).as_posix())
def test_knobs_draw_the_state_of_each_setting(browser, page: Path, width: int):
    """Every knob on the page: loads with no network request, with under 2 s of CPU on the
    page's main thread (and in under 2 s of wall-clock time from disk in a timing run; see
    :func:`_load_knob_page`); for each control, two of
    its values (others at their defaults) draw exactly the readout of the state computed for
    that setting, and the picture changes with it; at 390 px it fits the screen and the
    controls can be clicked."""
    ctx, tab, net, errors = _open_offline(browser, page, width)
    try:
        took, cpu = _load_knob_page(browser, page, width, tab)
        figs = tab.locator("figure.psbook-knob")
        assert figs.count() > 0
        for i in range(figs.count()):
            payload = json.loads(figs.nth(i).locator("script.psbook-knob-data")
                                 .text_content())
            states = {_key(s["settings"]): s["lines"] for s in payload["states"]}
            first = tab.evaluate(_KNOB_DRAWN, i)
            assert first["ready"] == "1", f"knob {payload['name']} was not drawn"
            assert first["right"] <= first["width"] + 1, (
                f"knob {payload['name']} ends at {first['right']:.0f} px in a {width} px window")
            for c in payload["controls"]:
                vals = list(dict.fromkeys(s["settings"][c] for s in payload["states"]))
                seen = []
                for v in (vals[-1], vals[0]) if len(vals) > 1 else (vals[0],):
                    _set_control(tab, i, c, v)
                    tab.wait_for_timeout(50)
                    drawn = tab.evaluate(_KNOB_DRAWN, i)
                    assert _key({c: drawn["values"][c]}) == _key({c: v}), (
                        f"{payload['name']}: set {c} = {v!r}, the chart holds "
                        f"{drawn['values'][c]!r}")
                    key = _key(drawn["values"])
                    assert key in states, f"{payload['name']}: no state for {drawn['values']}"
                    want = states[key]
                    got = [t for t in drawn["texts"] if t in {ln for ls in states.values()
                                                             for ln in ls}]
                    assert set(want) <= set(drawn["texts"]), (
                        f"{payload['name']} at {drawn['values']}: drawn {got}, want {want}")
                    others = {ls[0] for k, ls in states.items() if k != key}
                    assert not others & set(drawn["texts"]), (
                        f"{payload['name']} at {drawn['values']} also draws another state's "
                        f"heading: {others & set(drawn['texts'])}")
                    seen.append(drawn["marks"])
                if len(seen) == 2:
                    assert seen[0] != seen[1], (
                        f"{payload['name']}: the picture did not change when {c} moved")
    finally:
        ctx.close()
    assert not net, f"{page.name}: the page requested the network: {net[:5]}"
    assert not errors, f"{page.name}: JavaScript errors: {errors[:3]}"
    _record_knob_time(page, width, took, cpu)
    # The page's own cost, which the machine's load barely changes: asserted in every run.
    assert cpu < KNOB_LOAD_LIMIT_S, (
        f"{page.name} spent {cpu:.2f} s of CPU on its main thread to load and draw its knobs at "
        f"{width} px; the limit is {KNOB_LOAD_LIMIT_S} s")
    # The wall-clock time, asserted only in a timing run (PSBOOK_BROWSER_TIMED=1, a quiet
    # machine): under CI's load it measures the load more than the page. CI's browser part
    # measured 2.07-2.35 s (best of 3) on 05 and 06 at 3.7-4.3 runnable tasks per core; the
    # same pages with their knobs cut out cost nearly as much (the measures below).
    assert not TIMED or took < KNOB_LOAD_LIMIT_S, (
        f"{page.name} took {took:.2f} s (best of {KNOB_LOAD_TRIES} loads) to load and draw its "
        f"knobs at {width} px; the limit is {KNOB_LOAD_LIMIT_S} s")


# The budget: a knob page loads and draws in under 2 s from disk. Two measures of it:
# * CPU seconds of the page's main thread (Chromium's ThreadTime) from navigation until every
#   knob is drawn: asserted in every run. Where they are over 2 s the page cannot load in
#   under 2 s on this machine even when it is idle; the load of other processes changes them
#   little (pages with knobs: 0.66-1.26 s at load 9-10 on 2 cores, wall 1.5-4.2 s).
# * wall-clock seconds: asserted only where PSBOOK_BROWSER_TIMED=1. CI loads pages in two
#   browsers at once on 2 cores, so a page over the limit is loaded again in a fresh tab and
#   the best of KNOB_LOAD_TRIES loads counts (a page slow every time still fails).
# Every run writes both to _build/screenshots/knob-load-time@PAGE@WIDTH.json, with the load.
# What the knobs add: Measured on CI's build at 29d6d6d against the same pages with
# the knob figures and Vega scripts cut out (1280 px, load 9-10): main-thread CPU 05 0.75-0.86 s
# (0.63 without), 06 0.80-0.88 (0.70-0.80), 08 0.98-1.18 (0.95-0.99), 10 0.90-1.03
# (0.85-0.89). Most of a page's cost is MathJax (05 without it: 0.37-0.44 s) and the theme.
KNOB_LOAD_LIMIT_S = 2.0
TIMED = os.environ.get("PSBOOK_BROWSER_TIMED", "") == "1"
KNOB_LOAD_TRIES = 3


def _timed_load(tab, page: Path) -> tuple[float, float]:
    """``(seconds, cpu)``: the wall-clock seconds from navigating ``tab`` to ``page`` until
    every knob on it is drawn, and the CPU seconds its renderer's main thread spent meanwhile."""
    import time
    cdp = tab.context.new_cdp_session(tab)
    try:
        cdp.send("Performance.enable")
        before = _thread_time(cdp)
        t0 = time.perf_counter()
        tab.goto(page.as_uri(), wait_until="load", timeout=60_000)
        tab.wait_for_function(_KNOBS_READY, timeout=30_000)
        took = time.perf_counter() - t0
        return took, max(0.0, _thread_time(cdp) - before)
    finally:
        cdp.detach()


def _thread_time(cdp) -> float:
    """CPU seconds of the page's main thread so far (Chromium's Performance.getMetrics)."""
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    assert "ThreadTime" in metrics, f"this Chromium reports no ThreadTime: {sorted(metrics)}"
    return float(metrics["ThreadTime"])


def _load_knob_page(browser, page: Path, width: int, tab) -> tuple[float, float]:
    """Load ``page`` in ``tab``; return ``(seconds, cpu)`` (:func:`_timed_load`): the first
    load's, or where its wall-clock time is over the limit, the best of up to KNOB_LOAD_TRIES
    loads (the extra ones in fresh offline tabs, closed again) for each."""
    best, cpu = _timed_load(tab, page)
    for _ in range(KNOB_LOAD_TRIES - 1):
        if best < KNOB_LOAD_LIMIT_S:
            break
        ctx, extra, _net, _err = _open_offline(browser, page, width)
        try:
            took, spent = _timed_load(extra, page)
            best, cpu = min(best, took), min(cpu, spent)
        finally:
            ctx.close()
    return best, cpu


def _record_knob_time(page: Path, width: int, took: float, cpu: float) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / f"knob-load-time@{page.stem}@{width}.json").write_text(json.dumps(
        {"seconds": round(took, 3), "cpu_seconds": round(cpu, 3),
         "loadavg_per_core": round(os.getloadavg()[0] / (os.cpu_count() or 1), 2)}) + "\n")


def test_the_knob_load_limit_fails_a_slow_page_and_passes_a_fast_one(browser, tmp_path):
    """Controls for the 2 s limits. Wall clock: a page whose knob is ready only after 2.2 s is
    over the limit on every try (so the retries cannot hide a slow page); one that is ready at
    once is under, and both spend almost no CPU. CPU: a page that computes for 1.5 x the limit
    before its knob is ready (a loop sized on this machine by a short run of the same loop, less
    the page's own cost) is over it, whatever the load."""
    wait = ('<html><body><figure class="psbook-knob"></figure><script>'
            'setTimeout(() => document.querySelector("figure").dataset.ready = "1", {ms});'
            '</script></body></html>')
    busy = ('<html><body><figure class="psbook-knob"></figure><script>'
            'let x = 1; for (let i = 0; i < {n}; i++) x = (x * 1103515245 + 12345) | 0;'
            'document.querySelector("figure").dataset.ready = x ? "1" : "1";'
            '</script></body></html>')

    def load(name, html, retries=True):
        page = tmp_path / f"{name}.html"
        page.write_text(html)
        ctx, tab, _net, _err = _open_offline(browser, page, WIDE)
        try:
            return (_load_knob_page(browser, page, WIDE, tab) if retries
                    else _timed_load(tab, page))
        finally:
            ctx.close()

    for name, ms, slow in [("slow", 2200, True), ("fast", 0, False)]:
        took, cpu = load(name, wait.format(ms=ms))
        assert (took >= KNOB_LOAD_LIMIT_S) == slow, f"{name} page: {took:.2f} s"
        assert cpu < 0.5, f"{name} page: {cpu:.2f} s of CPU for a timer"
    # the loop's cost per turn on this machine: a short run less an empty one (page overhead)
    n0 = 20_000_000
    per_turn = (load("calibrate", busy.format(n=n0), False)[1]
                - load("empty", busy.format(n=0), False)[1]) / n0
    n = int(1.5 * KNOB_LOAD_LIMIT_S / max(per_turn, 1e-10))
    _, cpu = load("busy", busy.format(n=n), False)   # one load: CPU time needs no retries
    assert cpu >= KNOB_LOAD_LIMIT_S, (
        f"a page that loops {n} times ({per_turn * 1e9:.1f} ns of CPU a turn) measured "
        f"{cpu:.2f} s of CPU")

# ---- the first screen reaches prose (issue 26.8) ---------------------------------------------

#: a laptop and a phone, as a reader first sees a chapter (CSS px)
FIRST_SCREENS = [(WIDE, 900), (PHONE, 844)]

# The first paragraph a reader can read: visible text, not a block's title ("Definition 5.1"),
# code, an output, or the chapter's Learning goals and Compute notes (what the issue found
# first on the screen; folded, they are not visible anyway).
_FIRST_PROSE = """() => {
  const main = document.querySelector('article.bd-article') || document.querySelector('main');
  const notProse = e => {
    if (e.closest('.admonition-title, .cell, .cell_output, .output, nav, figure, table')) return true;
    const box = e.closest('.admonition');
    const title = box && box.querySelector('.admonition-title');
    return !!title && /^(Learning goals|Compute)\\b/.test(title.textContent.trim());
  };
  const p = Array.from(main.querySelectorAll('p'))
      .find(e => !notProse(e) && e.innerText.trim() && e.checkVisibility());
  if (!p) return null;
  const r = p.getBoundingClientRect();
  return {top: r.top + window.scrollY, line: parseFloat(getComputedStyle(p).lineHeight) || 24,
          height: window.innerHeight, text: p.innerText.slice(0, 60)};
}"""


def first_prose(browser, page: Path, width: int, height: int) -> dict | None:
    """Where the first paragraph of prose starts on ``page`` opened at ``width`` x ``height``."""
    ctx = browser.new_context(viewport={"width": width, "height": height})
    tab = ctx.new_page()
    try:
        tab.goto(page.as_uri(), wait_until="load", timeout=60_000)
        if tab.evaluate("() => document.querySelectorAll('span.math, div.math').length"):
            tab.evaluate(_MATHJAX_DONE)   # typeset math changes the heights above the prose
        return tab.evaluate(_FIRST_PROSE)
    finally:
        ctx.close()


@pytest.mark.parametrize("size", FIRST_SCREENS, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("page", [p for p in PAGES if re.match(r"\d\d-", p.stem)],
                         ids=lambda p: p.stem)
def test_the_first_screen_reaches_prose(browser, page: Path, size):
    """A chapter's first sentence of prose is on its first screen, without scrolling: the title,
    the folded Learning goals and Compute notes and the setup cell's one line come first."""
    at = first_prose(browser, page, *size)
    assert at, f"{page.name}: no paragraph of prose found"
    assert at["top"] + at["line"] <= at["height"], (
        f"{page.name} at {size[0]} x {size[1]}: the first paragraph ({at['text']!r}...) starts "
        f"{at['top']:.0f} px down, below the first screen: fold or move what comes before it")


def test_the_first_screen_check_fails_prose_below_a_tall_box(browser, tmp_path):
    """Negative control: prose under open Learning goals taller than a phone's screen is not
    on the first screen (the goals are not the prose); folded, the same goals let it through."""
    box = ('<div class="admonition tip"><p class="admonition-title">Learning goals</p>'
           + "<p>A goal that takes room.</p>" * 40 + "</div>")
    page = tmp_path / "99-tall.html"
    page.write_text(f'<!DOCTYPE html><html><body><main><article class="bd-article"><h1>T</h1>'
                    f'{box}<p>The first sentence.</p></article></main></body></html>')
    at = first_prose(browser, page, PHONE, 844)
    assert at["text"] == "The first sentence." and at["top"] + at["line"] > at["height"], at
    page.write_text(page.read_text().replace(box, f"<details>{box}</details>"))
    at = first_prose(browser, page, PHONE, 844)
    assert at["text"] == "The first sentence." and at["top"] + at["line"] <= at["height"], at
