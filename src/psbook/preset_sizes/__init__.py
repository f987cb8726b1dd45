"""The preset tables, one module per domain: :mod:`.synthetic` (``synthetic``, ``theory``),
:mod:`.language` (``signatures``, ``lm``) and :mod:`.interventions` (chapter 13). Plain data,
importing nothing; :func:`psbook.presets.get_preset` reads :data:`SECTIONS`."""

from .interventions import INTERVENTIONS
from .language import LM, SIGNATURES
from .synthetic import SYNTHETIC, THEORY

#: how many seeds each headline claim is measured over (DESIGN §4)
N_SEEDS = {"tiny": 3, "cpu": 5, "gpu": 5, "full": 5}

# A Colab T4 (16 GB, 2 CPU cores) for "gpu": at most ~5 min per chapter. Estimated from the cpu
# timings, not measured on a T4: the model sizes grow where the GPU does the work (training),
# the corpus sizes only a little (tokenizing and counting run on the CPU).

#: ``{preset name: {"n_seeds": ..., section: {...}}}``, sections in Preset's field order
SECTIONS = {name: dict(n_seeds=N_SEEDS[name], signatures=SIGNATURES[name],
                       synthetic=SYNTHETIC[name], theory=THEORY[name], lm=LM[name],
                       interventions=INTERVENTIONS[name])
            for name in ("tiny", "cpu", "gpu", "full")}
