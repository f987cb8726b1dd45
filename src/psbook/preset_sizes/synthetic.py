"""Sizes of the synthetic side in each preset: tasks, models and training of chapters 05-08
(``preset.synthetic``) and the numerical checks of the theory in chapters 03-04
(``preset.theory``). One table per section, one entry per preset; :mod:`psbook.presets` puts
them together."""

# chapters 05-08: synthetic tasks (sizes, steps, widget grids)
SYNTHETIC = {
    "tiny": dict(
        # chapters 05-08 (a reconstruction of the paper's sizes; see the chapters)
        f_add=dict(n_keys=14, n_anchors=4, n_slots=2),
        f_add_tilde=dict(n_keys=14, n_anchors=8, n_slots=2, width=1.0, n_samples=4000),
        f_mod=dict(p=17, test_frac=0.3),
        f_add_flat=dict(n_keys=14, n_anchors=12, n_slots=2, n_samples=20000),
        f_mod_noisy=dict(p=17, test_frac=0.3, n_per_pair=20, rho=1.0),
        model=dict(d=32, hidden=64, activation="relu", gamma=0.8),
        train=dict(
            f_add=dict(linear=dict(optimizer="gd", lr=0.5, steps=600),
                       ffn=dict(optimizer="gd", lr=0.5, steps=600)),
            f_add_tilde=dict(linear=dict(optimizer="gd", lr=0.5, steps=600),
                             ffn=dict(optimizer="gd", lr=0.5, steps=600)),
            f_mod=dict(linear=dict(optimizer="adam", lr=0.01, weight_decay=1.0, steps=600),
                       ffn=dict(optimizer="adam", lr=0.01, weight_decay=1.0, steps=600)),
            f_add_flat=dict(linear=dict(optimizer="gd", lr=0.5, steps=600),
                            ffn=dict(optimizer="gd", lr=0.5, steps=600)),
            f_mod_noisy=dict(linear=dict(optimizer="adam", lr=0.01, weight_decay=1.0, steps=600),
                             ffn=dict(optimizer="adam", lr=0.01, weight_decay=1.0, steps=600)),
        ),
        # chapter 08: gamma sweep on the two-token f_add (form="pair"), GD lr 0.2
        init_task=dict(form="pair", n_keys=14),
        init_train=dict(optimizer="gd", lr=0.2, steps=1800),
        init_fixed_step=600,        # the step at which regimes used to be compared
        gammas=[0.3, 0.5, 0.8, 1.2],
        # widgets: the grid a reader can visit (and the static small multiples)
        widget_gammas=[0.3, 0.8],
        widget_dists=["uniform", "zipf keys", "zipf anchors"],
        widget_steps=300,
    ),
    "cpu": dict(
        # chapters 05-08 (a reconstruction of the paper's sizes; see the chapters)
        f_add=dict(n_keys=20, n_anchors=5, n_slots=2),
        f_add_tilde=dict(n_keys=20, n_anchors=11, n_slots=2, width=1.0, n_samples=20000),
        f_mod=dict(p=23, test_frac=0.3),
        f_add_flat=dict(n_keys=20, n_anchors=16, n_slots=2, n_samples=40000),
        f_mod_noisy=dict(p=23, test_frac=0.3, n_per_pair=20, rho=1.0),
        model=dict(d=64, hidden=128, activation="relu", gamma=0.8),
        train=dict(
            f_add=dict(linear=dict(optimizer="gd", lr=0.5, steps=2000),
                       ffn=dict(optimizer="gd", lr=0.5, steps=2000)),
            f_add_tilde=dict(linear=dict(optimizer="gd", lr=0.5, steps=2000),
                             ffn=dict(optimizer="gd", lr=0.5, steps=2000)),
            f_mod=dict(linear=dict(optimizer="adam", lr=0.01, weight_decay=1.0, steps=2000),
                       ffn=dict(optimizer="adam", lr=0.01, weight_decay=1.0, steps=2000)),
            f_add_flat=dict(linear=dict(optimizer="gd", lr=0.5, steps=2000),
                            ffn=dict(optimizer="gd", lr=0.5, steps=2000)),
            f_mod_noisy=dict(linear=dict(optimizer="adam", lr=0.01, weight_decay=1.0, steps=2000),
                             ffn=dict(optimizer="adam", lr=0.01, weight_decay=1.0, steps=2000)),
        ),
        # chapter 08: gamma sweep on the two-token f_add (form="pair"), GD lr 0.2
        init_task=dict(form="pair", n_keys=20),
        init_train=dict(optimizer="gd", lr=0.2, steps=4000),
        init_fixed_step=2000,
        gammas=[0.3, 0.5, 0.8, 1.2],
        # widgets: the grid a reader can visit (and the static small multiples)
        widget_gammas=[0.3, 0.5, 0.8, 1.2],
        widget_dists=["uniform", "zipf keys", "zipf anchors"],
        widget_steps=1000,
    ),
    "gpu": dict(
        # chapters 05-08 (a reconstruction of the paper's sizes; see the chapters)
        f_add=dict(n_keys=30, n_anchors=8, n_slots=2),
        f_add_tilde=dict(n_keys=30, n_anchors=16, n_slots=2, width=1.0, n_samples=60000),
        f_mod=dict(p=37, test_frac=0.3),
        f_add_flat=dict(n_keys=30, n_anchors=24, n_slots=2, n_samples=80000),
        f_mod_noisy=dict(p=37, test_frac=0.3, n_per_pair=20, rho=1.0),
        model=dict(d=128, hidden=256, activation="relu", gamma=0.8),
        train=dict(
            f_add=dict(linear=dict(optimizer="gd", lr=0.5, steps=3000),
                       ffn=dict(optimizer="gd", lr=0.5, steps=3000)),
            f_add_tilde=dict(linear=dict(optimizer="gd", lr=0.5, steps=3000),
                             ffn=dict(optimizer="gd", lr=0.5, steps=3000)),
            f_mod=dict(linear=dict(optimizer="adam", lr=0.01, weight_decay=1.0, steps=3000),
                       ffn=dict(optimizer="adam", lr=0.01, weight_decay=1.0, steps=3000)),
            f_add_flat=dict(linear=dict(optimizer="gd", lr=0.5, steps=3000),
                            ffn=dict(optimizer="gd", lr=0.5, steps=3000)),
            f_mod_noisy=dict(linear=dict(optimizer="adam", lr=0.01, weight_decay=1.0, steps=3000),
                             ffn=dict(optimizer="adam", lr=0.01, weight_decay=1.0, steps=3000)),
        ),
        # chapter 08: gamma sweep on the two-token f_add (form="pair"), GD lr 0.2
        init_task=dict(form="pair", n_keys=30),
        init_train=dict(optimizer="gd", lr=0.2, steps=6000),
        init_fixed_step=3000,
        gammas=[0.3, 0.5, 0.6, 0.8, 1.0, 1.2],
        # widgets: the grid a reader can visit (and the static small multiples)
        widget_gammas=[0.3, 0.5, 0.8, 1.2],
        widget_dists=["uniform", "zipf keys", "zipf anchors"],
        widget_steps=2000,
    ),
    "full": dict(
        # chapters 05-08 (a reconstruction of the paper's sizes; see the chapters)
        f_add=dict(n_keys=40, n_anchors=10, n_slots=2),
        f_add_tilde=dict(n_keys=40, n_anchors=21, n_slots=2, width=1.0, n_samples=200000),
        f_mod=dict(p=59, test_frac=0.3),
        f_add_flat=dict(n_keys=40, n_anchors=31, n_slots=2, n_samples=200000),
        f_mod_noisy=dict(p=59, test_frac=0.3, n_per_pair=20, rho=1.0),
        model=dict(d=128, hidden=512, activation="relu", gamma=0.8),
        train=dict(
            f_add=dict(linear=dict(optimizer="gd", lr=0.5, steps=5000),
                       ffn=dict(optimizer="gd", lr=0.5, steps=5000)),
            f_add_tilde=dict(linear=dict(optimizer="gd", lr=0.5, steps=5000),
                             ffn=dict(optimizer="gd", lr=0.5, steps=5000)),
            f_mod=dict(linear=dict(optimizer="adam", lr=0.01, weight_decay=1.0, steps=5000),
                       ffn=dict(optimizer="adam", lr=0.01, weight_decay=1.0, steps=5000)),
            f_add_flat=dict(linear=dict(optimizer="gd", lr=0.5, steps=5000),
                            ffn=dict(optimizer="gd", lr=0.5, steps=5000)),
            f_mod_noisy=dict(linear=dict(optimizer="adam", lr=0.01, weight_decay=1.0, steps=5000),
                             ffn=dict(optimizer="adam", lr=0.01, weight_decay=1.0, steps=5000)),
        ),
        # chapter 08: gamma sweep on the two-token f_add (form="pair"), GD lr 0.2
        init_task=dict(form="pair", n_keys=40),
        init_train=dict(optimizer="gd", lr=0.2, steps=10000),
        init_fixed_step=5000,
        gammas=[0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0, 1.2],
        # widgets: the grid a reader can visit (and the static small multiples)
        widget_gammas=[0.3, 0.5, 0.8, 1.2],
        widget_dists=["uniform", "zipf keys", "zipf anchors"],
        widget_steps=3000,
    ),
}

# chapters 03-04: numerical checks of the gradient-flow theory
THEORY = {
    "tiny": dict(d=16, gammas=[0.6, 0.9, 1.2, 1.5, 1.8], n_fit=3,
         task=dict(n_keys=10, n_anchors=4, n_slots=2), train_gammas=[0.8, 1.2],
         lr=0.5, steps=500, n_snapshots=12,
         twin=dict(n_keys=8, n_anchors=4, n_slots=1, twin_of=3), twin_steps=300,
         mod_p=7,
         # chapter 04: loss-onset times of GD from small init (tanh vs GELU vs linear)
         onset=dict(gamma=0.8, lr=1.0, steps=600, log_every=10)),
    "cpu": dict(d=32, gammas=[0.5, 0.65, 0.8, 0.95, 1.1, 1.25, 1.4, 1.55, 1.7], n_fit=4,
         task=dict(n_keys=20, n_anchors=5, n_slots=2), train_gammas=[0.8, 1.2],
         lr=0.5, steps=1500, n_snapshots=16,
         twin=dict(n_keys=12, n_anchors=5, n_slots=1, twin_of=5), twin_steps=600,
         mod_p=13,
         # chapter 04: loss-onset times of GD from small init (tanh vs GELU vs linear)
         onset=dict(gamma=0.8, lr=1.0, steps=1500, log_every=10)),
    "gpu": dict(d=48, gammas=[0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.4, 1.6], n_fit=4,
         task=dict(n_keys=24, n_anchors=6, n_slots=2), train_gammas=[0.8, 1.2],
         lr=0.5, steps=2000, n_snapshots=16,
         twin=dict(n_keys=16, n_anchors=6, n_slots=1, twin_of=7), twin_steps=1000,
         mod_p=17,
         # chapter 04: loss-onset times of GD from small init (tanh vs GELU vs linear)
         onset=dict(gamma=0.8, lr=1.0, steps=2000, log_every=10)),
    "full": dict(d=64, gammas=[0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5],
         n_fit=5, task=dict(n_keys=30, n_anchors=8, n_slots=2),
         train_gammas=[0.8, 1.0, 1.2], lr=0.5, steps=3000, n_snapshots=20,
         twin=dict(n_keys=20, n_anchors=8, n_slots=1, twin_of=9), twin_steps=1500,
         mod_p=23,
         # chapter 04: loss-onset times of GD from small init (tanh vs GELU vs linear)
         onset=dict(gamma=0.8, lr=1.0, steps=3000, log_every=10)),
}
