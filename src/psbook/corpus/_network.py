"""Decide once, fast, whether this process can reach the Hugging Face Hub.

The decision is taken at the first call and cached for the process (DESIGN §6: a Hub load
with no network retries for ~24 s before failing, so we never let it try):

1. ``PSBOOK_ONLINE=0/1`` forces the answer;
2. ``HF_HUB_OFFLINE=1`` or ``HF_DATASETS_OFFLINE=1`` means offline;
3. otherwise a TCP connection to ``huggingface.co:443`` is attempted in a daemon thread and
   waited for at most ``timeout`` seconds (DNS included, which a plain socket timeout does
   not cover).

The decision and its reason are printed once.
"""

from __future__ import annotations

import os
import socket
import threading

__all__ = ["is_online", "network_reason", "reset_network_cache"]

_CHECK_HOST = ("huggingface.co", 443)
_DECISION: tuple[bool, str] | None = None
_TRUE = ("1", "true", "yes", "on")


def _probe(timeout: float) -> tuple[bool, str]:
    result: list[bool] = []

    def target():
        try:
            with socket.create_connection(_CHECK_HOST, timeout=timeout):
                result.append(True)
        except Exception:
            result.append(False)

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    if result and result[0]:
        return True, f"{_CHECK_HOST[0]} reachable"
    if not result:
        return False, f"{_CHECK_HOST[0]} did not answer within {timeout:.1f} s"
    return False, f"{_CHECK_HOST[0]} unreachable"


def _decide(timeout: float) -> tuple[bool, str]:
    forced = os.environ.get("PSBOOK_ONLINE", "").strip().lower()
    if forced:
        on = forced in _TRUE
        return on, f"PSBOOK_ONLINE={forced}"
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in _TRUE:
            return False, f"{var}=1"
    return _probe(timeout)


def is_online(timeout: float = 1.5, *, verbose: bool = True) -> bool:
    """True when the Hugging Face Hub is reachable; decided once per process (see module doc)."""
    global _DECISION
    if _DECISION is None:
        _DECISION = _decide(timeout)
        if verbose:
            # short enough for a printed line on the book's page (81 characters)
            state = "online" if _DECISION[0] else "offline"
            print(f"[psbook.corpus] {state} ({_DECISION[1]}): "
                  f"{'Pile subsets streamed' if _DECISION[0] else 'local corpora'}")
    return _DECISION[0]


def network_reason() -> str:
    """Why :func:`is_online` decided as it did (decides first if needed)."""
    is_online(verbose=False)
    return _DECISION[1]


def reset_network_cache() -> None:
    """Forget the cached decision (tests, or after the network came up)."""
    global _DECISION
    _DECISION = None
