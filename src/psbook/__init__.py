"""psbook -- probability signatures and the embedding geometry they shape.

The code behind the executable book *Probability Signatures*. Data flows one way:
``corpus``/``tasks`` -> ``signatures`` -> (``train`` -> trajectories) -> ``metrics`` -> ``plots``.
"""

# The one place the version is set (pyproject.toml reads it): `make release VERSION=x.y.z`.
__version__ = "0.2.0"

from .signatures import (  # noqa: E402
    NextTokenSignatures,
    TaskSignatures,
    next_token_signatures,
    task_signatures,
)
from .metrics import binned_alignment, cosine_matrix, r_cos, r_order  # noqa: E402
from .presets import get_preset, seed_everything  # noqa: E402

__all__ = [
    "__version__",
    "task_signatures",
    "next_token_signatures",
    "TaskSignatures",
    "NextTokenSignatures",
    "cosine_matrix",
    "r_cos",
    "r_order",
    "binned_alignment",
    "get_preset",
    "seed_everything",
]
