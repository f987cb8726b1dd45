"""Generate the course's student and solution notebooks from the chapter sources.

``python -m psbook.course build [--check]`` reads every ``book/NN-*.md`` that has exercises
and writes

* ``course/notebooks/student/NN-*.ipynb``: each region between ``### BEGIN SOLUTION`` and
  ``### END SOLUTION`` of a cell tagged ``exercise`` replaced by a stub raising
  ``NotImplementedError("exercise <label>: <task>")`` inside
  ``with unfinished("<label>"):`` (:class:`psbook.course.checks.unfinished`), which clears the
  exercise's previous answers, reports an unfinished stub in one line and carries on, so
  Run-all reaches the end: the check cell then says what is not answered yet (the code outside
  the markers is kept); prose ``{solution}`` blocks
  removed, hidden cells (tag ``remove-cell``) dropped, check cells (tag ``exercise-check``) kept;
* ``course/notebooks/solutions/NN-*.ipynb``: the whole chapter, solutions and checks included
  (hidden cells dropped too: they are the book's glue and assertions, not course material).

The markdown of both is converted from MyST to plain Jupyter markdown by a pluggable function
(``converter``; the default is :func:`myst_to_markdown`, a minimal converter). ``--check``
writes nothing and exits non-zero naming every generated file that is stale, missing or
orphaned. The files it wrote are listed in ``course/notebooks/MANIFEST``: a later build deletes
only notebooks listed there whose chapter lost its exercises, never a file it did not write.
``--root`` must be the book's root (``_config.yml`` and ``book/NN-*.md`` chapters). The
exercises exist only in the chapters: this module never stores a copy.

The exercise format is CONTRIBUTING.md's "Checkable exercises".
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import importlib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import nbformat

__all__ = ["BuildError", "Exercise", "build", "check", "main", "myst_to_markdown",
           "notebooks_for", "student_source", "DEFAULT_CONVERTER"]

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
EXERCISE_TAG, CHECK_TAG, HIDDEN_TAG = "exercise", "exercise-check", "remove-cell"
HEADER_RE = re.compile(r"^#\s*Exercise\s+(?P<label>[\w.-]+)\s*:\s*(?P<task>.+?)\s*$")
CHAPTER_GLOB = "[0-9][0-9]-*.md"
# The markdown converter used when none is given ("module:function"); the lead may point it at
# the publishing converter of the Colab notebooks.
DEFAULT_CONVERTER = "psbook.course.build:myst_to_markdown"


class BuildError(ValueError):
    """A chapter's exercise cells do not follow the format (CONTRIBUTING.md)."""


@dataclass
class Exercise:
    label: str
    task: str
    cell: int


@dataclass
class _Chapter:
    path: Path
    exercises: list = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# exercise cells


def _tags(cell) -> list:
    return list(cell.get("metadata", {}).get("tags", []))


def parse_exercise(source: str, where: str) -> Exercise:
    """The label and task of an exercise cell; BuildError if the format is broken."""
    lines = source.splitlines()
    first = next((ln for ln in lines if ln.strip()), "")
    m = HEADER_RE.match(first.strip())
    if not m:
        raise BuildError(f"{where}: an exercise cell must start with "
                         f"'# Exercise <label>: <task>'; it starts with {first!r}")
    depth = 0
    n_regions = 0
    for ln in lines:
        s = ln.strip()
        if s == BEGIN:
            if depth:
                raise BuildError(f"{where}: '{BEGIN}' inside another solution region")
            depth, n_regions = 1, n_regions + 1
        elif s == END:
            if not depth:
                raise BuildError(f"{where}: '{END}' without a '{BEGIN}' before it")
            depth = 0
    if depth:
        raise BuildError(f"{where}: '{BEGIN}' is never closed by '{END}'")
    if not n_regions:
        raise BuildError(f"{where}: an exercise cell needs a '{BEGIN}' ... '{END}' region")
    return Exercise(m["label"], m["task"], -1)


def student_source(source: str, label: str, task: str) -> str:
    """``source`` with every solution region replaced by the stub (indentation kept).

    The stub sits in ``with unfinished(label):``; the code after the region, at the region's
    indentation, moves into that block too (it usually prints or uses the answers, which do not
    exist while the stub is unfinished), so an unfinished stub skips it and says so.
    """
    out, inside, wrap_indent = [], False, None
    for ln in source.splitlines():
        s = ln.strip()
        if s == BEGIN:
            inside = True
            indent = ln[: len(ln) - len(ln.lstrip())]
            msg = f"exercise {label}: {task}"
            out.append(f"{indent}from psbook.course.checks import unfinished")
            out.append(f"{indent}with unfinished({label!r}):  # an unfinished stub says so "
                       f"and the notebook carries on")
            out.append(f"{indent}    # YOUR CODE HERE, indented like this line (then delete "
                       f"the raise)")
            out.append(f"{indent}    raise NotImplementedError({msg!r})")
        elif s == END:
            inside, wrap_indent = False, indent
        elif not inside:
            if wrap_indent is not None and s and not ln.startswith(wrap_indent):
                wrap_indent = None             # the enclosing block ends: stop wrapping
            if wrap_indent is not None and s and not s.startswith(BEGIN):
                out.append(f"{wrap_indent}    {ln[len(wrap_indent):]}")
            else:
                out.append(ln)
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# markdown


_FENCE_RE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|:{3,})\s*\{(?P<name>[\w:.-]+)\}\s*(?P<arg>.*)$")


def _blocks(text: str):
    """Split markdown into ('text', lines) and ('directive', name, arg, options, body lines)."""
    lines = text.split("\n")
    i, plain = 0, []
    while i < len(lines):
        m = _FENCE_RE.match(lines[i])
        if not m:
            plain.append(lines[i])
            i += 1
            continue
        fence, ch = m["fence"], m["fence"][0]
        close = re.compile(rf"^\s*{re.escape(ch)}{{{len(fence)},}}\s*$")
        j = i + 1
        while j < len(lines) and not close.match(lines[j]):
            j += 1
        body = lines[i + 1:j]
        options = {}
        while body and re.match(r"^\s*:[\w-]+:", body[0]):
            key, _, val = body.pop(0).strip()[1:].partition(":")
            options[key] = val.strip()
        if plain:
            yield ("text", plain)
            plain = []
        yield ("directive", m["name"], m["arg"].strip(), options, body)
        i = j + 1
    if plain:
        yield ("text", plain)


def remove_solutions(text: str) -> str:
    """Markdown without its ``{solution}`` directive blocks (any fence: backticks or colons)."""
    out = []
    for block in _blocks(text):
        if block[0] == "directive" and block[1] == "solution":
            continue
        out.extend(_unparse(block))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip("\n")


def _unparse(block) -> list:
    if block[0] == "text":
        return block[1]
    _, name, arg, options, body = block
    fence = "`" * max([3] + [len(m) + 1 for ln in body for m in re.findall(r"`{3,}", ln)])
    head = f"{fence}{{{name}}}" + (f" {arg}" if arg else "")
    return [head] + [f":{k}: {v}" for k, v in options.items()] + body + [fence]


_PRF_TITLES = {"definition": "Definition", "proposition": "Proposition", "theorem": "Theorem",
               "lemma": "Lemma", "corollary": "Corollary", "proof": "Proof", "remark": "Remark",
               "example": "Example", "conjecture": "Conjecture", "assumption": "Assumption",
               "observation": "Observation", "property": "Property", "algorithm": "Algorithm"}
_ADMONITIONS = {"note", "tip", "warning", "important", "caution", "attention", "danger",
                "error", "hint", "seealso"}


def _roles(text: str) -> str:
    def role(m):
        name, content = m["name"], m["content"]
        target = re.match(r"^(?P<text>.+?)\s*<(?P<target>[^>]+)>$", content, re.S)
        shown = target["text"] if target else content
        if name == "math":
            return f"${content}$"
        if name == "eq":
            return f"({content})"
        if name.startswith("cite"):
            keys = ", ".join(k.strip() for k in content.split(","))
            return keys if name == "cite:t" else f"[{keys}]"
        if name.startswith("glue"):
            return f"`{content.split(':')[0]}`"     # the value is printed by the code above
        if name == "doc":
            return f"*{shown.split('/')[-1]}*" if not target else shown
        return shown
    text = re.sub(r"\{(?P<name>[\w:.-]+)\}`(?P<content>[^`]+)`", role, text)
    text = re.sub(r"^\([\w.:-]+\)=\s*$\n?", "", text, flags=re.M)      # (label)= targets
    text = re.sub(r"\$\$\s*\(([\w.:-]+)\)", r"$$", text)               # $$ ... $$ (eq-label)
    return text


def myst_to_markdown(text: str) -> str:
    """A minimal MyST → Jupyter-markdown conversion, readable in Jupyter, VS Code and Colab.

    Directives become bold-titled paragraphs or blockquotes (their options dropped), roles
    become plain text (``{eq}`` labels in parentheses, ``{cite}`` keys in brackets, ``{glue}``
    names in code font), label targets ``(x)=`` are removed. Anything it does not know is kept
    as text, so nothing is lost.
    """
    out = []
    for block in _blocks(text):
        if block[0] == "text":
            out.extend(block[1])
            continue
        _, name, arg, options, body = block
        inner = myst_to_markdown("\n".join(body)).split("\n")
        kind = name.split(":")[-1]
        if name in ("code-block", "code", "sourcecode", "code-cell"):
            out += [f"```{arg.split()[0] if arg else ''}"] + body + ["```"]
        elif name == "math":
            out += ["$$"] + body + ["$$"]
        elif name == "exercise":
            label = options.get("label", "")
            out += [f"**Exercise{f' ({arg})' if arg else ''}**" + (f" `{label}`" if label else ""),
                    ""] + inner
        elif name == "solution":
            out += [f"**Solution{f' to `{arg}`' if arg else ''}**", ""] + inner
        elif name.startswith("prf:"):
            title = _PRF_TITLES.get(kind, kind.capitalize())
            out += [f"**{title}{f' ({arg})' if arg else ''}.**", ""] + inner
        elif name == "admonition" or kind in _ADMONITIONS:
            title = arg or kind.capitalize()
            out += [f"> **{title}**", ">"] + [f"> {ln}" if ln else ">" for ln in inner]
        else:  # figure, margin, glue:figure, ...: keep the content
            out += ([arg] if arg else []) + inner
        out.append("")
    return re.sub(r"\n{3,}", "\n\n", _roles("\n".join(out))).strip("\n")


# --------------------------------------------------------------------------------------------
# notebooks


def _names(source: str, ctx) -> set:
    code = "\n".join(ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!")))
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ctx)}


def _colab_url(repo_url: str, branch: str, path: str) -> str:
    owner_repo = re.sub(r"^https?://github\.com/", "", repo_url.rstrip("/")).removesuffix(".git")
    return f"https://colab.research.google.com/github/{owner_repo}/blob/{branch}/{path}"


def repository(root: Path) -> tuple[str, str]:
    """``(url, branch)`` of the book's repository, from ``_config.yml``."""
    import yaml
    cfg = yaml.safe_load((root / "_config.yml").read_text())
    repo = cfg.get("repository", {})
    return repo["url"], repo.get("branch", "main")


def colab_url(root: Path, notebook_path: str) -> str:
    """The "Open in Colab" URL of a file of the repository (same form as the book's button)."""
    url, branch = repository(root)
    return _colab_url(url, branch, notebook_path)


def _cell_id(stem: str, kind: str, i: int, source: str) -> str:
    return hashlib.sha1(f"{stem}/{kind}/{i}/{source}".encode()).hexdigest()[:12]


_DIFFICULTY_RE = re.compile(r"\*Difficulty (?P<d>[123])/3 · about (?P<m>\d+) minutes\.\*")


class _Pace:
    """Issue 29.7: beside each exercise's difficulty, its importance (where the schedule puts
    it), and before each ``## `` section after the first exercise an "estimated time to here"
    marker: the chapter's exercise minutes up to that point (Neuromatch's markers)."""

    def __init__(self, placement: dict | None):
        self.placement = placement
        self.total = 0
        self.marked = 0            # the total at the last marker (no repeated markers)

    def text(self, text: str) -> str:
        if self.placement is None:
            return text
        out = []
        label = None
        for line in text.split("\n"):
            m = re.match(r"^\s*:label:\s*([\w.-]+)", line)
            label = m[1] if m else label
            if line.startswith("## ") and self.total > self.marked:
                out += [self.marker(), ""]
                self.marked = self.total
            d = _DIFFICULTY_RE.search(line)
            if d:
                session, where = self.placement.get(label, (None, None))
                from .budget import importance
                line = line.replace(d[0], f"*Difficulty {d['d']}/3 · "
                                          f"{importance(where, session)} · about {d['m']} "
                                          f"minutes.*")
                self.total += int(d["m"])
            out.append(line)
        return "\n".join(out)

    def marker(self, end: bool = False) -> str:
        if end:
            return (f"*Estimated time for this chapter's exercises: about {self.total} min "
                    f"(the exercises' own minutes; reading and running the cells come on "
                    f"top).*")
        return f"*Estimated time to here: about {self.total} min of exercises.*"


def notebooks_for(md: Path, converter: Callable[[str], str] = myst_to_markdown,
                  colab: Callable[[str], str] | None = None,
                  placement: dict | None = None) -> dict:
    """``{"student": nb, "solutions": nb}`` generated from chapter ``md``.

    ``colab(path)`` gives the Colab URL of a repository path (for the header cell's badge).
    ``placement`` (``budget.placement``) adds each exercise's importance beside its difficulty
    and "estimated time to here" markers before the sections (:class:`_Pace`).
    """
    import jupytext
    src = jupytext.read(md)
    stem = md.stem
    exercises = []
    for i, cell in enumerate(src.cells):
        if cell.cell_type == "code" and EXERCISE_TAG in _tags(cell):
            ex = parse_exercise(cell.source, f"{md.name}, cell {i}")
            ex.cell = i
            exercises.append(ex)
    for k, ex in enumerate(exercises):
        stop = exercises[k + 1].cell if k + 1 < len(exercises) else len(src.cells)
        if not any(CHECK_TAG in _tags(c) for c in src.cells[ex.cell + 1:stop]
                   if c.cell_type == "code"):
            raise BuildError(f"{md.name}, cell {ex.cell}: exercise {ex.label} has no check cell "
                             f"(a code cell tagged {CHECK_TAG}) after it")
    labels = [e.label for e in exercises]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise BuildError(f"{md.name}: exercise labels used twice: {dup}")

    # Hidden cells are dropped, unless a later kept cell reads a name only they define.
    kept_loads = set()
    keep_hidden = set()
    for i in range(len(src.cells) - 1, -1, -1):
        cell = src.cells[i]
        if cell.cell_type != "code":
            continue
        if HIDDEN_TAG in _tags(cell):
            # kept: cells whose names later cells read, and the cells that glue the numbers
            # the prose quotes (its live cells show them), asserting or not; claims.claim glues
            glues = "glue" in cell.source or "claim(" in cell.source
            if glues or _names(cell.source, ast.Store) & kept_loads:
                keep_hidden.add(i)
                kept_loads |= _names(cell.source, ast.Load)
        else:
            kept_loads |= _names(cell.source, ast.Load)

    out = {}
    for kind in ("student", "solutions"):
        nb = nbformat.v4.new_notebook()
        nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python",
                                      "name": "python3"},
                       "language_info": {"name": "python"}}
        path = f"course/notebooks/{kind}/{stem}.ipynb"
        badge = (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
                 f"({colab(path)})\n\n" if colab else "")
        what = ("Fill in each exercise cell: replace its `raise NotImplementedError(...)` "
                "line by your code (indented like it, inside `with unfinished(...)`), run it, "
                "then run the check cell below it: the check says in words what is right or "
                "wrong, judging only what this run of your cell computed (where the exercise "
                "asks for a function, it calls your function on inputs of its own). "
                "`checks.hint(\"ex-...\")` gives a hint, a nudge first, and "
                "`checks.reveal(\"ex-...\")` the reference, when you ask. An exercise you have "
                "not done yet says so in one line, so *Run all* reaches the end."
                if kind == "student" else
                "The worked solutions are in the cells marked `### BEGIN SOLUTION`; every "
                "check cell should print \"all answers right\".")
        header = (f"{badge}*Course notebook ({kind}) for chapter `{stem}` of "
                  f"Probability Signatures.* Generated from `book/{md.name}` by "
                  f"`python -m psbook.course build`: do not edit it, edit the chapter.\n\n{what}")
        cells = [nbformat.v4.new_markdown_cell(header)]
        pace = _Pace(placement)
        for i, cell in enumerate(src.cells):
            tags = _tags(cell)
            if cell.cell_type == "markdown":
                text = cell.source if kind == "solutions" else remove_solutions(cell.source)
                text = pace.text(text)
                if hasattr(converter, "set_cell"):
                    converter.set_cell(i)
                if hasattr(converter, "cells"):  # Markdown + live prose cells (tools/colab.py)
                    cells += converter.cells(text)
                    continue
                text = converter(text)
                if text.strip():
                    cells.append(nbformat.v4.new_markdown_cell(text))
            elif cell.cell_type == "code":
                if HIDDEN_TAG in tags and i not in keep_hidden:
                    continue
                source = cell.source
                if kind == "student" and EXERCISE_TAG in tags:
                    ex = next(e for e in exercises if e.cell == i)
                    source = student_source(source, ex.label, ex.task)
                    tags = [t for t in tags if t not in ("hide-input", "hide-cell")]
                new = nbformat.v4.new_code_cell(source)
                if tags:
                    new.metadata["tags"] = tags
                cells.append(new)
            else:
                cells.append(nbformat.v4.new_raw_cell(cell.source))
        if pace.total:
            cells.append(nbformat.v4.new_markdown_cell(pace.marker(end=True)))
        for j, c in enumerate(cells):
            c.id = _cell_id(stem, kind, j, c.source)
        nb.cells = cells
        out[kind] = nb
    return out


def _has_exercises(md: Path) -> bool:
    text = md.read_text()
    return "{exercise}" in text or re.search(r":tags:.*\bexercise\b", text) is not None


def _render(nb) -> str:
    return nbformat.writes(nb) + "\n"


def _load_converter(spec: str | Callable | None) -> Callable[[str], str]:
    if callable(spec):
        return spec
    mod, _, fn = (spec or DEFAULT_CONVERTER).partition(":")
    if not fn:
        raise ValueError(f"converter must be 'module:function'; got {spec!r}")
    return getattr(importlib.import_module(mod), fn)


class _BookConverter:
    """The Colab converter of the repository's ``tools/colab.py`` for one chapter: the same
    numbering, citations and links as the book's Colab notebooks. ``set_cell(i)`` tells it
    where in the chapter a markdown cell sits (glued numbers are "printed above/below")."""

    def __init__(self, mod, book, md: Path, code_sources):
        self.mod, self.md = mod, md
        self.r = mod.Renderer(book, md.stem, mod._glue_positions(code_sources))

    def set_cell(self, i: int) -> None:
        self.r.cell_index = i

    def __call__(self, text: str) -> str:
        return self.r.render(self.mod.parse_blocks(text, self.md.name)).strip("\n")

    def cells(self, text: str) -> list:
        return self.mod.markdown_cells(self.r, text, self.md.name)


def _book_converter_module(root: Path):
    """``tools/colab.py`` of the repository at ``root`` (None when it has none)."""
    import importlib.util
    path = Path(root) / "tools" / "colab.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location("_psbook_tools_colab", path)
    mod = importlib.util.module_from_spec(spec)
    import sys
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def generate(root: Path, converter=None) -> dict:
    """``{relative path: notebook text}`` of every generated notebook under ``root``.

    Without ``converter``, the book's own Colab converter (``tools/colab.py``) renders the
    markdown when the repository has it, else :func:`myst_to_markdown`.
    """
    root = Path(root)
    mod = _book_converter_module(root) if converter is None else None
    book = mod.load_book() if mod is not None else None
    conv = None if mod is not None else _load_converter(converter)
    try:
        url, branch = repository(root)
        colab = lambda path: _colab_url(url, branch, path)  # noqa: E731
    except (FileNotFoundError, KeyError):
        colab = None
    files = {}
    try:
        from .budget import placement
        placed = placement(root)
    except FileNotFoundError:          # a root without the course's schedule
        placed = None
    for md in sorted((root / "book").glob(CHAPTER_GLOB)):
        if not _has_exercises(md):
            continue
        if mod is not None:
            import jupytext
            code = [(k, c.source) for k, c in enumerate(jupytext.read(md).cells)
                    if c.cell_type == "code"]
            conv = _BookConverter(mod, book, md, code)
        for kind, nb in notebooks_for(md, conv, colab, placed).items():
            files[f"course/notebooks/{kind}/{md.stem}.ipynb"] = _render(nb)
    return files


MANIFEST = "course/notebooks/MANIFEST"
_GENERATED_RE = re.compile(r"course/notebooks/(student|solutions)/[0-9][0-9]-[\w.-]+\.ipynb")
_MANIFEST_HEAD = ("# Written by `python -m psbook.course build`: the notebooks it generated. A "
                  "build deletes only\n# files listed here (whose chapter lost its exercises), "
                  "never a file it did not write.\n")


def check_root(root: Path) -> Path:
    """``root`` if it is the book's root (``_config.yml`` and ``book/NN-*.md`` chapters), else
    BuildError saying what is missing."""
    root = Path(root)
    if not root.is_dir():
        raise BuildError(f"root {root} is not a folder; expected the book's root (the folder "
                         f"with _config.yml and book/)")
    lacks = [w for w, ok in [("_config.yml", (root / "_config.yml").is_file()),
                             ("book/NN-*.md chapters", any((root / "book").glob(CHAPTER_GLOB)))]
             if not ok]
    if lacks:
        raise BuildError(f"root {root} is not the book's root: it has no {' and no '.join(lacks)}"
                         f" (pass --root the folder with _config.yml and book/)")
    return root


def _manifest(root: Path) -> set:
    """The generated notebooks the last build listed (empty without a manifest)."""
    path = root / MANIFEST
    if not path.exists():
        return set()
    return {ln.strip() for ln in path.read_text().splitlines()
            if _GENERATED_RE.fullmatch(ln.strip())}   # nothing outside the two folders


def _manifest_text(files: dict) -> str:
    return _MANIFEST_HEAD + "".join(f"{rel}\n" for rel in sorted(files))


def check(root: Path, converter=None) -> list[str]:
    """Problems with the committed notebooks (stale, missing, orphaned), as sentences."""
    root = check_root(root)
    files = generate(root, converter)
    problems = [f"{rel} is missing" if not (root / rel).exists() else
                f"{rel} is stale (its chapter or the generator changed)"
                for rel in _changed(root, files)]
    problems += [f"{rel} has no chapter with exercises any more"
                 for rel in sorted(_manifest(root) - set(files)) if (root / rel).exists()]
    m = root / MANIFEST
    if not m.exists() or m.read_text() != _manifest_text(files):
        problems.append(f"{MANIFEST} is {'missing' if not m.exists() else 'stale'}")
    return problems


def _changed(root: Path, files: dict) -> list[str]:
    """The generated files whose committed copy is missing or differs."""
    return [rel for rel, text in files.items()
            if not (root / rel).exists() or (root / rel).read_text() != text]


def build(root: Path, converter=None) -> list[str]:
    """Write every generated notebook and the manifest, and delete the notebooks an earlier
    build generated whose chapter lost its exercises (only those: the manifest lists them);
    returns the paths written."""
    root = check_root(root)
    files = generate(root, converter)
    written = _changed(root, files)
    from ..atomic import write_file
    for rel in written:                 # atomic; a full disk raises, naming the file
        write_file(root / rel, files[rel], on_error="raise")
    for rel in sorted(_manifest(root) - set(files)):
        if (root / rel).is_file():
            (root / rel).unlink()
            written.append(f"{rel} (deleted)")
    m = root / MANIFEST
    if not m.exists() or m.read_text() != _manifest_text(files):
        write_file(m, _manifest_text(files), on_error="raise")
        written.append(MANIFEST)
    return written


def _find_root(start: Path) -> Path:
    for p in [start, *start.parents]:
        if (p / "_config.yml").exists() and (p / "book").is_dir():
            return p
    raise SystemExit(f"no book found at or above {start} (a folder with _config.yml and book/)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m psbook.course",
                                 description="Generate the course's student and solution "
                                             "notebooks from the chapters.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="write course/notebooks/{student,solutions}/NN-*.ipynb")
    b.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 naming the notebooks that are out of date")
    b.add_argument("--root", type=Path, default=None, help="the book's root (default: found "
                   "from the current folder)")
    b.add_argument("--converter", default=None,
                   help=f"markdown converter 'module:function' (default {DEFAULT_CONVERTER})")
    s = sub.add_parser("student-config", help="write the Jupyter Book config of the student "
                       "edition (_config.yml + course/_config-student.yml)")
    s.add_argument("-o", "--output", type=Path, default=Path("_build/_config-student.yml"))
    s.add_argument("--root", type=Path, default=None)
    e = sub.add_parser("execute", help="pre-execute the course notebooks into a folder (plan "
                       "B when Colab fails: read them without a kernel)")
    e.add_argument("chapters", nargs="*", help="chapter numbers (default: all)")
    e.add_argument("--kind", choices=("student", "solutions"), default="student")
    e.add_argument("--preset", default="tiny", help="PSBOOK_PRESET for the run (default tiny)")
    e.add_argument("--out", type=Path, default=None,
                   help="output folder (default _build/course-executed/<kind>)")
    e.add_argument("--root", type=Path, default=None)
    t = sub.add_parser("budget", help="write course/_time-budget.md (exercise minutes per "
                       "session, from the chapters) and report sessions over their time")
    t.add_argument("--check", action="store_true", help="write nothing; exit 1 when the table "
                   "is stale or a session is over its stated time")
    t.add_argument("--root", type=Path, default=None)
    i = sub.add_parser("instructor", help="write the problem sets' answer key (instructors "
                       "only) to _build/course-instructor/")
    i.add_argument("--root", type=Path, default=None)
    args = ap.parse_args(argv)
    root = args.root or _find_root(Path.cwd())
    if args.cmd == "instructor":
        from .instructor import write as write_key
        print(f"wrote {write_key(check_root(root))}")
        return 0
    if args.cmd == "budget":
        from . import budget
        over = budget.problems(check_root(root))
        for line in over:
            print(f"over budget: {line}", file=sys.stderr)
        if args.check:
            stale = not (root / budget.BUDGET_FILE).exists() or (
                (root / budget.BUDGET_FILE).read_text() != budget.render(root))
            if stale:
                print(f"{budget.BUDGET_FILE} is stale: run `python -m psbook.course budget`",
                      file=sys.stderr)
            return 1 if stale or over else 0
        print(f"wrote {budget.BUDGET_FILE}" if budget.write(root) else
              f"{budget.BUDGET_FILE} already up to date")
        return 1 if over else 0
    if args.cmd == "execute":
        from .execute import execute_notebooks
        try:
            res = execute_notebooks(check_root(root), args.kind, args.out, args.chapters,
                                    args.preset)
        except (BuildError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        return 1 if any(errs for _, errs in res) else 0
    if args.cmd == "student-config":
        from .student import write_student_config
        out = write_student_config(root, args.output)
        print(f"wrote {out}")
        return 0
    try:
        if args.check:
            problems = check(root, args.converter)
            if problems:
                print("course notebooks out of date — run `python -m psbook.course build`:",
                      file=sys.stderr)
                for p in problems:
                    print(f"  {p}", file=sys.stderr)
                return 1
            print("course notebooks are up to date")
            return 0
        written = build(root, args.converter)
    except BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print("\n".join(f"wrote {w}" for w in written) or "course notebooks already up to date")
    return 0
