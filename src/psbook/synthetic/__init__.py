"""The synthetic side: tasks with known signatures, small models trained on them.

Grouped as :mod:`psbook.corpus` and :mod:`psbook.lm` group the language side. Bottom up:

* :mod:`~psbook.synthetic.tasks` -- the synthetic datasets (``f_add``, ``f_mod``, ...) and
  their registry :data:`~psbook.synthetic.tasks.TASKS`;
* :mod:`~psbook.synthetic.models` -- the linear model and the FFN;
* :mod:`~psbook.synthetic.fitting` -- what one training is (:class:`FitSpec`,
  :class:`History`, :class:`TrainResult`) and the pieces both trainers share;
* :mod:`~psbook.synthetic.train` -- one model trained alone (:func:`fit`, :func:`train`);
* :mod:`~psbook.synthetic.ensemble` -- many models of one shape trained as one batched model;
* :mod:`~psbook.synthetic.experiments` -- one-call runs, sweeps and claims over seeds.

Import the modules by name (``from psbook.synthetic import experiments, tasks``).
"""
