"""The ``psbook`` console script. One command so far: ``psbook align`` (:mod:`psbook.align.cli`).

    psbook align --model glove-6b-50d --corpus path/to/folder_of_txt --signature window

Bad arguments print one line ``psbook align: error: ...`` and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys

from .align.cli import EXAMPLE, add_arguments, run

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message):               # one clear line, exit status 2
        self.exit(2, f"{self.prog}: error: {message}\n")


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
        epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(a)
    return p


def main(argv=None) -> int:
    """Entry point of the ``psbook`` console script; returns the exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_usage(sys.stderr)
            return 2
        from ._validate import check_environment
        align_parser = parser._subparsers._group_actions[0].choices["align"]
        try:                   # every PSBOOK_* variable, before any work: one line, status 2
            check_environment()
        except (ValueError, RuntimeError) as exc:      # RuntimeError: PSBOOK_DEVICE=cuda, no GPU
            align_parser.error(str(exc).splitlines()[0])
        return run(args, align_parser)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)


if __name__ == "__main__":
    sys.exit(main())
