"""Generate the Colab notebooks `book/NN-*.ipynb` from the chapters' MyST sources `book/NN-*.md`.

The `.md` is the source of truth; the `.ipynb` next to it is what a reader opens in Colab (the
book's launch button) and what nbmake executes in CI. Colab renders Jupyter markdown, not MyST,
so every markdown cell is converted:

- `prf:` blocks, exercises -> a bold heading with the number the HTML shows ("**Definition 5.1
  (Composite addition)**"); proofs -> "*Proof.* ... ∎";
- solutions -> folded `<details>` blocks; admonitions -> block quotes;
- labelled display equations -> `\\tag{N}`, `{eq}` -> "(N)", `{prf:ref}`/`{ref}` -> "Definition N";
  a reference to another chapter links to the published page;
- `{cite:p}` / `{cite:t}` -> author-year text linking to the entry on the published
  bibliography page (its anchor: `bibtex_cite_id` in _config.yml);
- `{doc}` -> a link to the published page;
- a paragraph with `{glue:text}`name:spec`` references -> a live prose cell: a form-hidden code
  cell (`# @title`, `cellView: form`, `jupyter.source_hidden`, tag `psbook-prose`) calling
  `psbook.notebook.prose`, which shows the paragraph as Markdown with the reader's own values,
  formatted as the HTML formats them (`psbook.notebook.format_glue`); values glued by a later
  cell update the paragraph when they arrive;
- math spans are rewritten so that a Markdown renderer without math protection (Colab's)
  leaves them intact (`protect_math`).

Numbers are derived as Sphinx derives them for this book: the parts of `_toc.yml` are
`numbered`, so chapter N's blocks are numbered N.1, N.2, ... (one counter per kind: equation,
each prf type, exercise; `numfig_secnum_depth` 1), as the HTML shows them ("Exercise 5.3",
"(5.2)"); the chapter numbers are those of the sidebar (`chapter_numbers`).
tests/test_colab.py compares them with the built HTML when `_build/html` exists.

Code cells are copied with their metadata. Cells hidden in the book (`remove-cell`) get a first
line saying so; exercise solution cells (tag `exercise`) are folded with Colab's form view.

Anything the converter does not know (a directive or role) raises `MystError` naming it, so a new
construct fails `make pair` and the tests instead of reaching a reader raw.

    python tools/colab.py                 # regenerate every chapter's .ipynb
    python tools/colab.py --check         # exit 1 when a .ipynb differs from what would be generated
    python tools/colab.py book/05-*.md    # only these
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"

HIDDEN_MARK = "# (hidden in the book)"
SOLUTION_TITLE = "#@title Solution (click to show)"

# sphinx-proof's directive types and how the HTML names them.
PRF_TYPES = {
    "definition": "Definition", "proposition": "Proposition", "corollary": "Corollary",
    "remark": "Remark", "property": "Property", "theorem": "Theorem", "lemma": "Lemma",
    "conjecture": "Conjecture", "example": "Example", "assumption": "Assumption",
    "axiom": "Axiom", "criterion": "Criterion", "algorithm": "Algorithm",
    "observation": "Observation", "notation": "Notation",
}
ADMONITIONS = {
    "note": "Note", "tip": "Tip", "hint": "Hint", "important": "Important",
    "warning": "Warning", "caution": "Caution", "attention": "Attention", "danger": "Danger",
    "error": "Error", "seealso": "See also",
}


class MystError(ValueError):
    """A MyST construct the converter does not know how to render for Colab."""


# --------------------------------------------------------------------------- parsing

@dataclass
class Directive:
    name: str
    arg: str
    options: dict
    body: list  # list of blocks (str text chunks and Directive)
    raw_body: str
    line: int


_OPEN = re.compile(r"^(?P<indent>[ ]{0,3})(?P<fence>`{3,}|:{3,})(?P<info>.*)$")


def parse_blocks(text: str, where: str = "", line0: int = 0) -> list:
    """Split MyST text into plain-text chunks, verbatim code fences and directives (recursive)."""
    lines = text.split("\n")
    out: list = []
    buf: list[str] = []
    i = 0
    while i < len(lines):
        m = _OPEN.match(lines[i])
        if not m:
            buf.append(lines[i])
            i += 1
            continue
        fence, info = m.group("fence"), m.group("info").strip()
        # find the closing fence: same character, at least as long, nothing else on the line
        j = i + 1
        close = re.compile(rf"^[ ]{{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        depth_fences = []
        while j < len(lines):
            if close.match(lines[j]) and not depth_fences:
                break
            inner = _OPEN.match(lines[j])
            if inner and inner.group("fence")[0] == fence[0] and inner.group("info").strip() \
                    and len(inner.group("fence")) >= len(fence):
                depth_fences.append(inner.group("fence"))
            elif depth_fences and re.match(rf"^[ ]{{0,3}}{re.escape(depth_fences[-1])}\s*$", lines[j]):
                depth_fences.pop()
            j += 1
        if j >= len(lines):
            raise MystError(f"{where}:{line0 + i + 1}: fence {fence}{info} is never closed")
        body_lines = lines[i + 1:j]
        dm = re.match(r"^\{([^}]+)\}\s*(.*)$", info)
        if buf:
            out.append("\n".join(buf))
            buf = []
        if dm is None:  # a plain code block: kept verbatim
            if fence[0] == ":":
                raise MystError(f"{where}:{line0 + i + 1}: colon fence without a directive")
            out.append(("code", "\n".join(lines[i:j + 1])))
        else:
            name, arg = dm.group(1).strip(), dm.group(2).strip()
            options = {}
            k = 0
            while k < len(body_lines) and re.match(r"^:[\w-]+:", body_lines[k]):
                om = re.match(r"^:([\w-]+):\s*(.*)$", body_lines[k])
                options[om.group(1)] = om.group(2).strip()
                k += 1
            if k < len(body_lines) and body_lines[k].strip() == "" and options:
                k += 1
            raw = "\n".join(body_lines[k:])
            body = parse_blocks(raw, where, line0 + i + 1 + k) if name not in ("code-cell",) else []
            out.append(Directive(name, arg, options, body, raw, line0 + i + 1))
        i = j + 1
    if buf:
        out.append("\n".join(buf))
    return out


# --------------------------------------------------------------------------- the book context

_EQ_LABEL = re.compile(r"^(?P<head>.*)\$\$\s*\((?P<label>[^)\s]+)\)\s*$")
_TARGET = re.compile(r"^\((?P<label>[\w.:-]+)\)=\s*$")


@dataclass
class Target:
    doc: str          # chapter stem, e.g. "05-composite-addition"
    text: str         # how the HTML names it: "(5.2)", "Definition 5.1", a section title
    anchor: str       # the HTML anchor


@dataclass
class Book:
    site: str                                      # published site, ends with /
    repo: str                                      # repository URL
    branch: str
    titles: dict = field(default_factory=dict)     # doc stem -> page title
    targets: dict = field(default_factory=dict)    # label -> Target
    exercises: dict = field(default_factory=dict)  # label -> ("5.3" or None, title, doc)
    bib: dict = field(default_factory=dict)        # key -> (authors text, year)

    cite_id: str = "cite-{key}"                    # sphinx bibtex_cite_id (_config.yml)

    def url(self, doc: str, anchor: str = "") -> str:
        return f"{self.site}book/{doc}.html" + (f"#{anchor}" if anchor else "")

    def cite_url(self, key: str) -> str:
        """The bibliography page's entry for ``key`` (sphinxcontrib-bibtex gives each entry
        the id ``make_id(bibtex_cite_id.format(key=key))``)."""
        return self.url("bibliography", cite_anchor(self.cite_id, key))


def html_id(name: str) -> str:
    """The id Sphinx gives a labelled equation (``make_id("equation-" + label)``, myst-parser
    and Sphinx alike) or a MyST ``(label)=`` target (docutils' ``set_id``: ``make_id`` of the
    normalised name): lower case, runs of other characters as one ``-``. (sphinx-proof and
    sphinx-exercise keep their ``:label:`` as it is written.)"""
    from docutils.nodes import make_id

    return make_id(name)


def cite_anchor(cite_id: str, key: str) -> str:
    """The HTML id sphinxcontrib-bibtex gives the bibliography entry of ``key``."""
    from docutils.nodes import make_id

    return make_id(cite_id.format(key=key, bibliography_count=1))


def _config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def site_url(cfg: dict | None = None) -> str:
    """The published book's URL: `html.baseurl` if set, else GitHub Pages of `repository.url`."""
    cfg = cfg or _config()
    base = (cfg.get("html") or {}).get("baseurl")
    if base:
        return base.rstrip("/") + "/"
    m = re.match(r"https://github\.com/([^/]+)/([^/]+?)/?$", cfg["repository"]["url"])
    if not m:
        raise MystError(f"repository.url {cfg['repository']['url']!r} is not a GitHub URL: "
                        "set html.baseurl in _config.yml to the published site")
    return f"https://{m.group(1).lower()}.github.io/{m.group(2)}/"


def toc_files() -> list[str]:
    """Every page _toc.yml lists (root, chapters, sections), as written there, in book order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        for ch in part.get("chapters", []):
            files.append(ch["file"])
            files += [s["file"] for s in ch.get("sections", [])]
    return files


def toc_docs() -> list[str]:
    return [Path(f).stem for f in toc_files()]


def chapter_numbers() -> dict[str, int]:
    """doc stem -> the chapter number the HTML shows ("5. Composite addition" in the sidebar):
    the chapters of the parts that _toc.yml marks ``numbered``, counted 1, 2, ... in book order
    across those parts (Jupyter Book's multitoc numbering: one sequence, not one per part). The
    root page is in no part, so it takes no number; a chapter's sections share its number."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    out, n = {}, 0
    for part in toc.get("parts", []):
        if not part.get("numbered"):
            continue
        for ch in part.get("chapters", []):
            n += 1
            for f in [ch["file"]] + [s["file"] for s in ch.get("sections", [])]:
                out[Path(f).stem] = n
    return out


def _title(text: str) -> str:
    for line in text.split("\n"):
        if line.startswith("# "):
            return line[2:].strip()
    return ""


def _bib() -> dict:
    from pybtex.database import parse_file  # shipped with sphinxcontrib-bibtex

    out = {}
    db = parse_file(str(BOOK / "references.bib"))
    for key, e in db.entries.items():
        persons = e.persons.get("author", [])
        last = [" ".join(p.last_names).replace("{", "").replace("}", "") for p in persons]
        if len(last) == 1:
            who = last[0]
        elif len(last) == 2:
            who = f"{last[0]} and {last[1]}"
        else:
            who = f"{last[0]} et al." if last else key
        out[key] = (who, e.fields.get("year", "n.d."))
    return out


def _markdown_of(md: Path) -> list[str]:
    """The markdown cells of a chapter (jupytext's split), in order."""
    import jupytext

    return [c.source for c in jupytext.read(md).cells if c.cell_type == "markdown"]


def load_book() -> Book:
    cfg = _config()
    cite_id = ((cfg.get("sphinx") or {}).get("config") or {}).get("bibtex_cite_id")
    if not cite_id or "{key}" not in cite_id:
        raise MystError("_config.yml: set sphinx.config.bibtex_cite_id (e.g. \"cite-{key}\") so "
                        "that every bibliography entry has a stable anchor for the notebooks' "
                        f"citation links; got {cite_id!r}")
    book = Book(site=site_url(cfg), repo=cfg["repository"]["url"].rstrip("/"),
                branch=str(cfg["repository"].get("branch", "main")), cite_id=cite_id)
    chapters = chapter_numbers()
    counters: dict[tuple, int] = {}

    def number(kind: str, doc: str) -> str:
        """The next number of ``kind`` in ``doc``: chapter-local ("5.3") in a numbered chapter
        (Sphinx's numfig with numfig_secnum_depth 1), one book-wide count elsewhere."""
        chapter = chapters.get(doc)
        key = (kind, chapter)
        counters[key] = counters.get(key, 0) + 1
        return f"{chapter}.{counters[key]}" if chapter else str(counters[key])

    docs = toc_docs()
    # chapters not (yet) in _toc.yml come last: the HTML does not number them at all
    docs += [p.stem for p in sorted(BOOK.glob("[0-9][0-9]-*.md")) if p.stem not in docs]
    for doc in docs:
        path = BOOK / f"{doc}.md"
        if not path.exists():
            continue
        text = path.read_text()
        book.titles[doc] = _title(text)
        if not re.match(r"\d\d-", doc):
            continue
        for cell in _markdown_of(path):
            _scan(parse_blocks(cell, path.name), doc, book, lambda kind, d=doc: number(kind, d))
    book.bib = _bib()
    return book


def _scan(blocks, doc, book: Book, number) -> None:
    for b in blocks:
        if isinstance(b, tuple):
            continue
        if isinstance(b, str):
            lines = b.split("\n")
            for k, line in enumerate(lines):
                m = _EQ_LABEL.match(line)
                if m:
                    lab = m.group("label")
                    book.targets[lab] = Target(doc, f"({number('equation')})",
                                               html_id(f"equation-{lab}"))
                t = _TARGET.match(line)
                if t:
                    head = next((x for x in lines[k + 1:] if x.strip()), "")
                    title = head.lstrip("#").strip() if head.startswith("#") else t.group("label")
                    book.targets[t.group("label")] = Target(doc, title,
                                                            html_id(t.group("label")))
            continue
        name, label = b.name, b.options.get("label")
        if name.startswith("prf:") and name[4:] in PRF_TYPES:
            kind = PRF_TYPES[name[4:]]
            if "nonumber" not in b.options:
                n = number(kind)
                if label:
                    book.targets[label] = Target(doc, f"{kind} {n}", label)
        elif name == "exercise":
            n = None if "nonumber" in b.options else number("Exercise")
            if label:
                book.exercises[label] = (n, b.arg, doc)
                book.targets[label] = Target(doc, f"Exercise {n}" if n else b.arg, label)
        _scan(b.body, doc, book, number)


# --------------------------------------------------------------------------- rendering

_ROLE = re.compile(r"\{(?P<role>[A-Za-z][\w:+-]*)\}$")


class Renderer:
    def __init__(self, book: Book, doc: str, glue_pos: dict | None = None):
        self.book, self.doc = book, doc
        self.glue_pos = glue_pos or {}  # glue name -> index of the code cell that glues it
        self.cell_index = 0
        self.glued: list[str] = []      # the glue references rendered so far ("name:spec")

    # ---- roles
    def _ref(self, label: str, role: str) -> str:
        t = self.book.targets.get(label)
        if t is None:
            raise MystError(f"{self.doc}: {{{role}}}`{label}`: unknown label")
        if t.doc == self.doc:
            return t.text
        return f"[{t.text}]({self.book.url(t.doc, t.anchor)})"

    @staticmethod
    def _explicit(content: str):
        m = re.match(r"^(.*?)\s*<([^>]+)>$", content, re.S)
        return (m.group(1), m.group(2)) if m else (None, content)

    def role(self, role: str, content: str) -> str:
        text, target = self._explicit(content)
        if role == "eq":
            t = self._ref(target, role)
            return t if text is None else t.replace(self.book.targets[target].text, text)
        if role in ("prf:ref", "ref", "numref"):
            t = self.book.targets.get(target)
            if t is None:
                raise MystError(f"{self.doc}: {{{role}}}`{content}`: unknown label")
            shown = text or t.text
            if t.doc == self.doc:
                return shown
            return f"[{shown}]({self.book.url(t.doc, t.anchor)})"
        if role == "doc":
            doc = Path(target).stem
            if doc not in self.book.titles:
                raise MystError(f"{self.doc}: {{doc}}`{content}`: no such page in _toc.yml")
            return f"[{text or self.book.titles[doc]}]({self.book.url(doc)})"
        if role in ("cite:p", "cite:t", "cite", "cite:ps", "cite:ts"):
            parts = []
            for key in [k.strip() for k in target.split(",") if k.strip()]:
                if key not in self.book.bib:
                    raise MystError(f"{self.doc}: {{{role}}}`{key}`: not in book/references.bib")
                who, year = self.book.bib[key]
                shown = f"{who} ({year})" if role.startswith("cite:t") else f"{who}, {year}"
                parts.append(f"[{shown}]({self.book.cite_url(key)})")
            if role.startswith("cite:t"):
                return "; ".join(parts)
            return f"({'; '.join(parts)})"
        if role in ("glue:text", "glue", "glue:any", "glue:md"):
            # kept as a reference: the paragraph becomes a live cell (psbook.notebook.prose)
            # that shows the reader's own value, formatted as the HTML formats it
            self.glued.append(target.strip())
            return f"{{glue:text}}`{target.strip()}`"
        if role == "math":
            return f"${content}$"
        if role in ("sub", "sup"):
            return f"<{role}>{content}</{role}>"
        if role == "abbr":
            return text or content
        raise MystError(f"{self.doc}: unknown role {{{role}}} (`{content}`): teach tools/colab.py "
                        "how Colab should show it")

    def inline(self, text: str) -> str:
        """Replace roles in running text, leaving code spans untouched."""
        out, i = [], 0
        while i < len(text):
            if text[i] != "`":
                out.append(text[i])
                i += 1
                continue
            run = re.match(r"`+", text[i:]).group(0)
            end = text.find(run, i + len(run))
            while end != -1 and (text[end + len(run):end + len(run) + 1] == "`"):
                end = text.find(run, end + len(run) + 1)
            if end == -1:
                out.append(run)
                i += len(run)
                continue
            content = text[i + len(run):end]
            prefix = "".join(out)
            m = _ROLE.search(prefix) if len(run) == 1 else None
            if m:
                out = [prefix[:m.start()], self.role(m.group("role"), content)]
            else:
                out.append(text[i:end + len(run)])
            i = end + len(run)
        return "".join(out)

    # ---- blocks
    def text(self, chunk: str) -> str:
        lines = []
        for line in chunk.split("\n"):
            if _TARGET.match(line):
                continue  # `(label)=` targets: the HTML anchor has no Jupyter counterpart
            if re.match(r"^%", line):
                continue  # MyST comment
            if re.fullmatch(r"\s*<!--.*-->\s*", line):
                continue  # a one-line HTML comment (e.g. the chapter-time markers): bookkeeping
            m = _EQ_LABEL.match(line)
            if m:
                t = self.book.targets.get(m.group("label"))
                if t is None:
                    raise MystError(f"{self.doc}: equation label {m.group('label')!r} not found")
                head = m.group("head").rstrip()
                tag = f"\\tag{{{t.text.strip('()')}}}"
                line = f"{head} {tag} $$" if head.strip() else f"{tag}\n$$"
            lines.append(line)
        return self.inline("\n".join(lines))

    def render(self, blocks) -> str:
        parts = []
        for b in blocks:
            if isinstance(b, tuple):
                parts.append(b[1])
            elif isinstance(b, str):
                parts.append(self.text(b))
            else:
                parts.append(self.directive(b))
        return "\n".join(parts)

    def pieces(self, source: str, where: str = "") -> list[tuple[str, str]]:
        """A markdown cell of the chapter as ``[("markdown", text) | ("prose", text)]``: the
        paragraphs (and directives) that cite glued values are ``"prose"`` (a live cell shows
        them with the reader's values), the rest is plain Markdown. Math is protected
        (:func:`protect_math`) in both."""
        blocks = parse_blocks(source, where)
        units = []
        for b in blocks:
            if isinstance(b, str):
                units += [p for p in _paragraphs(b)]
            else:
                units.append(b)
        out: list[tuple[str, str]] = []
        static: list[str] = []

        def flush():
            text = "\n\n".join(t for t in static if t.strip()).strip("\n")
            if text:
                out.append(("markdown", protect_math(text)))
            static.clear()

        for u in units:
            before = len(self.glued)
            text = self.render([u]).strip("\n")
            if len(self.glued) > before:
                flush()
                out.append(("prose", protect_math(text)))
            else:
                static.append(text)
        flush()
        return out

    def _body(self, d: Directive) -> str:
        return self.render(d.body).strip("\n")

    @staticmethod
    def _quote(text: str) -> str:
        return "\n".join(("> " + line) if line.strip() else ">" for line in text.split("\n"))

    def directive(self, d: Directive) -> str:
        name = d.name
        known_opts = {"label", "class", "nonumber", "name", "dropdown", "open", "figwidth",
                      "align"}
        unknown = set(d.options) - known_opts
        if unknown:
            raise MystError(f"{self.doc}:{d.line}: {{{name}}} option(s) {sorted(unknown)} unknown "
                            "to tools/colab.py")
        if name.startswith("prf:"):
            kind = name[4:]
            if kind == "proof":
                if "dropdown" in d.options.get("class", ""):  # folded in the book: folded here
                    return (f"<details>\n<summary><b>Proof</b> (click to show)</summary>\n\n"
                            f"{self._body(d)} ∎\n\n</details>\n")
                return f"*Proof.* {self._body(d)} ∎\n"
            if kind not in PRF_TYPES:
                raise MystError(f"{self.doc}:{d.line}: unknown directive {{{name}}}")
            label = d.options.get("label")
            head = self.book.targets[label].text if label in self.book.targets else PRF_TYPES[kind]
            title = f" ({self.inline(d.arg)})" if d.arg else ""
            return f"**{head}{title}**\n\n{self._body(d)}\n"
        if name == "exercise":
            n, title, _ = self.book.exercises.get(d.options.get("label"), (None, d.arg, self.doc))
            head = f"Exercise {n}" if n else "Exercise"
            title = f" ({self.inline(d.arg)})" if d.arg else ""
            return f"**{head}{title}**\n\n{self._body(d)}\n"
        if name == "solution":
            label = d.arg.strip()
            if label not in self.book.exercises:
                raise MystError(f"{self.doc}:{d.line}: {{solution}} of unknown exercise {label!r}")
            n, title, _ = self.book.exercises[label]
            summary = f"Solution to Exercise {n}" if n else "Solution"
            if title:
                summary += f" ({self.inline(title)})"
            return (f"<details>\n<summary><b>{summary}</b> (click to show)</summary>\n\n"
                    f"{self._body(d)}\n\n</details>\n")
        if name == "admonition" or name in ADMONITIONS:
            title = self.inline(d.arg) if name == "admonition" else ADMONITIONS[name]
            if name in ADMONITIONS and d.arg:
                title = f"{title}: {self.inline(d.arg)}"
            body = self._body(d)
            if "dropdown" in d.options.get("class", ""):
                return (f"<details>\n<summary><b>{title}</b></summary>\n\n{body}\n\n</details>\n")
            return self._quote(f"**{title}**\n\n{body}") + "\n"
        if name == "dropdown":  # sphinx-design
            return (f"<details>\n<summary><b>{self.inline(d.arg) or 'Details'}</b></summary>\n\n"
                    f"{self._body(d)}\n\n</details>\n")
        if name in ("margin", "sidebar", "topic", "epigraph"):
            head = f"**{self.inline(d.arg)}**\n\n" if d.arg else ""
            return self._quote(f"{head}{self._body(d)}") + "\n"
        if name in ("glue:figure", "glue:any", "glue:math", "glue:md", "glue"):
            return f"*(`{d.arg}`: shown by the code cell that computes it.)*\n"
        if name in ("math",):
            label = d.options.get("label")
            tag = ""
            if label:
                t = self.book.targets.get(label)
                tag = f" \\tag{{{t.text.strip('()')}}}" if t else ""
            return f"$$\n{d.raw_body.strip()}{tag}\n$$\n"
        raise MystError(f"{self.doc}:{d.line}: unknown directive {{{name}}}: teach tools/colab.py "
                        "how Colab should show it")


def _paragraphs(text: str) -> list[str]:
    """``text`` split at blank lines, never inside a ``$$ ... $$`` display (the pieces joined
    with blank lines give ``text`` back, up to blank lines)."""
    out, cur, in_math = [], [], False
    for line in text.split("\n"):
        if not line.strip() and not in_math:
            if cur:
                out.append("\n".join(cur))
                cur = []
            continue
        cur.append(line)
        in_math ^= line.count("$$") % 2 == 1
    if cur:
        out.append("\n".join(cur))
    return out


# --------------------------------------------------------------------------- math for Colab
#
# Colab's Markdown renderer does not protect math: `}_{` opens emphasis, `\,` and `\{` lose
# their backslash (CommonMark escapes), `\\` becomes `\`. Math spans are rewritten into TeX
# that means the same to MathJax/KaTeX and that a Markdown renderer leaves alone, with or
# without math protection (Jupyter protects it): `\,` -> `\mkern3mu`, `\{` -> `\lbrace`,
# `\\` -> `\cr`, `_` that could open emphasis -> `_ ` (TeX ignores the space), `*` -> `\ast`,
# `<` -> `\lt`, `~` -> `\nobreakspace`; a line of a display that Markdown would read as a list
# item or heading gets a leading `{}`. An escaped character with no plain synonym (`\#`, `\%`,
# `\&`, `\$`, `\_`) becomes MathJax's `\unicode{35}` (Colab and Jupyter render math with
# MathJax; a KaTeX-based viewer shows it as an error).

_NEUTRAL = {",": r"\mkern3mu ", ":": r"\mkern4mu ", ">": r"\mkern4mu ", ";": r"\mkern5mu ",
            "!": r"\mkern-3mu ", "{": r"\lbrace", "}": r"\rbrace", "|": r"\Vert",
            "\\": r"\cr"}  # macros MathJax 3 and KaTeX both know
_PUNCT = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_MATH_OR_CODE = re.compile(
    r"(?P<code>(?P<ticks>`+).+?(?<!`)(?P=ticks)(?!`))"
    r"|(?P<display>\$\$.+?\$\$)"
    r"|(?P<inline>(?<![\\$])\$(?![\s$])(?:[^$\n\\]|\\.|\n(?![ \t]*\n))+?(?<![\s\\])\$(?!\d))",
    re.S)
_FENCE = re.compile(r"^[ ]{0,3}(`{3,}|~{3,})")
_BLOCK_START = re.compile(r"^[ \t]*(?:[-+*][ \t]|[-+*]$|\d{1,9}[.)](?:[ \t]|$)"
                          r"|#{1,6}(?:[ \t]|$)|>|=+[ \t]*$)")


def _outside_fences(markdown: str):
    """``(is_fenced_code, text)`` chunks of ``markdown``."""
    chunks, cur, fence = [], [], None
    for line in markdown.split("\n"):
        m = _FENCE.match(line)
        if fence is None and m:
            if cur:
                chunks.append((False, "\n".join(cur)))
            cur, fence = [line], m.group(1)
        elif fence is not None and re.match(
                rf"^[ ]{{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$", line):
            cur.append(line)
            chunks.append((True, "\n".join(cur)))
            cur, fence = [], None
        else:
            cur.append(line)
    if cur or not chunks:
        chunks.append((fence is not None, "\n".join(cur)))
    return chunks


def math_spans(markdown: str) -> list[str]:
    """Every ``$...$`` and ``$$...$$`` span of ``markdown`` (delimiters included), in order;
    fenced code and code spans are skipped."""
    spans = []
    for fenced, text in _outside_fences(markdown):
        if not fenced:
            spans += [m.group(0) for m in _MATH_OR_CODE.finditer(text) if not m.group("code")]
    return spans


def _protect_tex(tex: str) -> str:
    out, i, n = [], 0, len(tex)
    while i < n:
        c = tex[i]
        if c == "\\" and i + 1 < n:
            nxt = tex[i + 1]
            if nxt.isalpha():  # a control word: copied whole
                j = i + 1
                while j < n and tex[j].isalpha():
                    j += 1
                out.append(tex[i:j])
                i = j
                continue
            if nxt in _NEUTRAL:
                word = _NEUTRAL[nxt]
                sep = " " if i + 2 < n and tex[i + 2].isalpha() and not word.endswith(" ") else ""
                out.append(word + sep)
                i += 2
                continue
            if nxt in _PUNCT:  # \# \% \& \$ \_: no plain synonym; MathJax's \unicode
                out.append(f"\\unicode{{{ord(nxt)}}}")
                i += 2
                continue
            out.append(tex[i:i + 2])
            i += 2
            continue
        if c == "_":
            prev = tex[i - 1] if i else " "
            after = tex[i + 1] if i + 1 < n else " "
            out.append("_ " if not prev.isalnum() and not after.isspace() else "_")
        elif c == "*":
            out.append(r"\ast ")
        elif c == "<":
            out.append(r"\lt ")
        elif c == "~":  # GFM renderers (marked) read ~x~ as strikethrough
            out.append(r"\nobreakspace ")
        else:
            out.append(c)
        i += 1
    text = "".join(out)
    lines = text.split("\n")
    return "\n".join([lines[0]] + [("{}" + ln if _BLOCK_START.match(ln) else ln)
                                   for ln in lines[1:]])


def protect_math(markdown: str) -> str:
    """``markdown`` with every math span rewritten for a Markdown renderer that does not
    protect math (see the comment above); code is left alone."""
    parts = []
    for fenced, text in _outside_fences(markdown):
        if fenced:
            parts.append(text)
            continue

        def sub(m):
            if m.group("code"):
                return m.group(0)
            span = m.group(0)
            d = 2 if m.group("display") else 1
            return span[:d] + _protect_tex(span[d:-d]) + span[-d:]

        parts.append(_MATH_OR_CODE.sub(sub, text))
    return "\n".join(parts)


# --------------------------------------------------------------------------- notebooks

PROSE_TAG = "psbook-prose"
PROSE_TITLE = "# @title"


def prose_source(markdown: str) -> str:
    """The code of a live prose cell: the paragraph, shown by ``psbook.notebook.prose`` with
    the reader's own glued values."""
    if '"""' not in markdown and not markdown.endswith("\\"):
        literal = f'r"""\n{markdown}\n"""'
    else:
        literal = repr(markdown)
    return (f"{PROSE_TITLE}\n"
            "# The book's paragraph, with the numbers this notebook computed.\n"
            "from psbook.notebook import prose\n"
            f"prose({literal})")


def prose_markdown(source: str) -> str:
    """The paragraph (with its ``{glue:text}`` references) a live prose cell shows."""
    import ast

    call = ast.parse(source).body[-1].value
    return ast.literal_eval(call.args[0]).strip("\n")


def prose_metadata() -> dict:
    return {"cellView": "form", "jupyter": {"source_hidden": True}, "tags": [PROSE_TAG]}


def is_prose_cell(cell) -> bool:
    return cell.get("cell_type") == "code" and PROSE_TAG in cell.get("metadata", {}).get("tags", [])


def markdown_cells(r: "Renderer", source: str, where: str, meta: dict | None = None) -> list:
    """The notebook cells (nbformat) a markdown cell of the chapter becomes: Markdown, and a
    live prose cell for each paragraph that cites glued values."""
    import nbformat

    cells = []
    for kind, text in r.pieces(source, where):
        if kind == "markdown":
            cell = nbformat.v4.new_markdown_cell(text)
            cell.metadata = dict(meta or {})
        else:
            cell = nbformat.v4.new_code_cell(prose_source(text))
            cell.metadata = prose_metadata()
        cells.append(cell)
    return cells


def _glue_positions(code_sources: list[str]) -> dict:
    pos: dict[str, int] = {}
    for k, src in code_sources:
        for name in re.findall(r"""["']([A-Za-z_][\w]*)["']""", src):
            if "glue" in src:
                pos.setdefault(name, k)
    return pos


def _cell_id(doc: str, k: int, kind: str) -> str:
    return hashlib.sha1(f"{doc}:{k}:{kind}".encode()).hexdigest()[:12]


def code_source(source: str, tags: list) -> tuple[str, dict]:
    """A code cell's source and extra metadata as the Colab notebook carries them."""
    extra = {}
    if "remove-cell" in tags:
        what = "checks of the claims above" if re.search(r"^\s*assert\b", source, re.M) \
            else "bookkeeping for the page"
        source = f"{HIDDEN_MARK} {what}\n{source}"
    elif "exercise" in tags:
        source = f"{SOLUTION_TITLE}\n{source}"
        extra["cellView"] = "form"
    return source, extra


def strip_code_marks(source: str) -> str:
    """Undo :func:`code_source` (used by the pairing test)."""
    lines = source.split("\n")
    if lines and (lines[0].startswith(HIDDEN_MARK) or lines[0] == SOLUTION_TITLE):
        lines = lines[1:]
    return "\n".join(lines)


def notebook(md: Path, book: Book | None = None):
    """The Colab notebook generated from chapter `md` (an nbformat v4 notebook)."""
    import jupytext
    import nbformat

    book = book or load_book()
    doc = md.stem
    src = jupytext.read(md)
    code = [(k, c.source) for k, c in enumerate(src.cells) if c.cell_type == "code"]
    r = Renderer(book, doc, _glue_positions(code))
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "colab": {"provenance": []},
        "psbook": {"generated_from": f"book/{md.name}", "generator": "tools/colab.py",
                   "note": "generated: edit the .md and run `make pair`"},
    }
    page = book.url(doc)
    intro = nbformat.v4.new_markdown_cell(
        f"*This notebook is generated from the book's source `book/{md.name}`; the chapter as a "
        f"web page: [{book.titles.get(doc, doc)}]({page}). Paragraphs that quote measured "
        "numbers are small hidden code cells here: they show the text with the numbers of "
        "your own run.*")
    intro.id = _cell_id(doc, -1, "intro")
    intro.metadata = {"tags": ["colab-intro"]}
    cells = []
    for k, c in enumerate(src.cells):
        r.cell_index = k
        meta = dict(c.metadata)
        if c.cell_type == "markdown":
            pieces = markdown_cells(r, c.source, md.name, meta)
            for j, cell in enumerate(pieces):
                cell.id = _cell_id(doc, k, c.cell_type if j == 0 else f"{c.cell_type}.{j}")
            cells += pieces
            continue
        elif c.cell_type == "code":
            tags = list(meta.get("tags", []))
            source, extra = code_source(c.source, tags)
            meta.update(extra)
            cell = nbformat.v4.new_code_cell(source)
        else:
            cell = nbformat.v4.new_raw_cell(c.source)
        cell.metadata = meta
        cell.id = _cell_id(doc, k, c.cell_type)
        cells.append(cell)
    # the intro goes after the first cell (the title)
    nb.cells = cells[:1] + [intro] + cells[1:]
    return nb


def render_notebook(md: Path, book: Book | None = None) -> str:
    import nbformat

    return nbformat.writes(notebook(md, book)) + "\n"


RAW_MYST = [
    (re.compile(r"\{glue"), "{glue…} role"), (re.compile(r"\{eq\}"), "{eq} role"),
    (re.compile(r"\{prf:"), "{prf:…}"), (re.compile(r"\{cite"), "{cite…} role"),
    (re.compile(r"\{doc\}"), "{doc} role"), (re.compile(r"\{ref\}"), "{ref} role"),
    (re.compile(r"\{exercise\}"), "{exercise}"), (re.compile(r"\{solution\}"), "{solution}"),
    (re.compile(r"\{admonition\}"), "{admonition}"), (re.compile(r"^:label:", re.M), ":label:"),
    (re.compile(r"^:class:", re.M), ":class:"), (re.compile(r"^\([\w.:-]+\)=\s*$", re.M),
                                                  "(label)= target"),
    (re.compile(r"\$\$\s*\([\w.:-]+\)\s*$", re.M), "$$ (label) equation label"),
    (re.compile(r"\{[A-Za-z][\w:+-]*\}`"), "a {role}`…`"),
    (re.compile(r"^(```+|:::+)\s*\{", re.M), "a {directive} fence"),
]


def raw_myst(markdown: str) -> list[str]:
    """The raw MyST constructs left in a markdown cell (fenced code blocks are skipped)."""
    text = re.sub(r"^(```+)[^\n{]*\n.*?^\1\s*$", "", markdown, flags=re.M | re.S)
    return [what for pat, what in RAW_MYST if pat.search(text)]


def chapters() -> list[Path]:
    return sorted(BOOK.glob("[0-9][0-9]-*.md"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Generate the Colab notebooks from the chapters.")
    ap.add_argument("files", nargs="*", type=Path, help="chapters (default: all)")
    ap.add_argument("--check", action="store_true", help="only report notebooks out of date")
    a = ap.parse_args(argv)
    book = load_book()
    stale = []
    for md in [f.resolve() for f in a.files] or chapters():
        if md.suffix != ".md":
            md = md.with_suffix(".md")
        out = md.with_suffix(".ipynb")
        try:
            text = render_notebook(md, book)
        except MystError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        if out.exists() and out.read_text() == text:
            continue
        if a.check:
            stale.append(out.name)
        else:
            out.write_text(text)
            print(f"wrote {out.relative_to(ROOT)}")
    if stale:
        print(f"out of date: {', '.join(stale)}: run `make pair`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
