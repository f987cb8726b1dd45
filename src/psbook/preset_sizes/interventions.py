"""Sizes of chapter 13 (interventions) in each preset: designed synthetic geometry,
dose-response on the language model (its model and training given as changes to
``preset.lm["model"]`` / ``["train"]``, in the same names: ``lm_model``, ``lm_train``) and the
trajectories of both. :mod:`psbook.presets` puts it together with the other sections."""

# chapter 13: interventions on the data, and the gradient flow along training
INTERVENTIONS = {
    "tiny": dict(
        # designed geometry: f_add (sizes of synthetic.f_add) with anchors in anchor_values
        designed_anchors=[0, 4], chains_anchors=[0, 2, 4, 6],
        # dose-response on the language model: a smaller model than chapter 10's
        lm_model=dict(n_layers=1, d_model=32, n_heads=2, n_kv_heads=1, d_ff=64),
        lm_train=dict(steps=150, batch_size=8, warmup=20, eval_every=10, checkpoint_every=150),
        band=[20, 200], n_treated=3, n_control=3, p_values=[0.0, 0.5, 1.0], n_seeds=2,
        # sham draws (the page's sham and more draws at the same p and seeds): the null
        sham_draws=3,
        # trajectories: synthetic (task/d/lr of preset.theory) and language model
        traj_steps=500, traj_snapshots=10, threshold=0.9,
        lm_traj_gamma=1.2, lm_traj_snapshots=8, lm_traj_windows=32,
        # does the early direction shape the final geometry: continuations from the stop
        # with the early displacement scrambled (seeds x scrambles; one training each)
        early_seeds=2, early_draws=1,
    ),
    "cpu": dict(
        # designed geometry: f_add (sizes of synthetic.f_add) with anchors in anchor_values
        designed_anchors=[0, 5], chains_anchors=[0, 2, 4, 6],
        # dose-response on the language model: a smaller model than chapter 10's
        lm_model=dict(n_layers=1, d_model=48, n_heads=2, n_kv_heads=1, d_ff=96),
        lm_train=dict(steps=200, batch_size=16, seq_len=64, warmup=20, eval_every=10,
                      checkpoint_every=200),
        band=[20, 300], n_treated=4, n_control=4, p_values=[0.0, 0.25, 0.5, 0.75, 1.0],
        n_seeds=3,
        # sham draws (the page's sham and more draws at the same p and seeds): the null
        sham_draws=2,
        # trajectories: synthetic (task/d/lr of preset.theory) and language model
        traj_steps=1500, traj_snapshots=14, threshold=0.9,
        lm_traj_gamma=1.2, lm_traj_snapshots=10, lm_traj_windows=64,
        # does the early direction shape the final geometry: continuations from the stop
        # with the early displacement scrambled (seeds x scrambles; one training each). Two
        # seeds: an asserted claim needs a spread over seeds (the second seed trains its own real
        # run and one continuation: about 13 CPU s)
        early_seeds=2, early_draws=1,
    ),
    "gpu": dict(
        # designed geometry: f_add (sizes of synthetic.f_add) with anchors in anchor_values
        designed_anchors=[0, 6], chains_anchors=[0, 2, 4, 6],
        # dose-response on the language model: a smaller model than chapter 10's
        lm_model=dict(n_layers=2, d_model=64, n_heads=2, n_kv_heads=1, d_ff=172),
        lm_train=dict(steps=400, batch_size=32, seq_len=128, warmup=40, eval_every=20,
                      checkpoint_every=400),
        band=[20, 400], n_treated=6, n_control=6, p_values=[0.0, 0.25, 0.5, 0.75, 1.0],
        n_seeds=3,
        # sham draws (the page's sham and more draws at the same p and seeds): the null
        sham_draws=3,
        # trajectories: synthetic (task/d/lr of preset.theory) and language model
        traj_steps=2000, traj_snapshots=16, threshold=0.9,
        lm_traj_gamma=1.2, lm_traj_snapshots=12, lm_traj_windows=64,
        # does the early direction shape the final geometry: continuations from the stop
        # with the early displacement scrambled (seeds x scrambles; one training each)
        early_seeds=3, early_draws=1,
    ),
    "full": dict(
        # designed geometry: f_add (sizes of synthetic.f_add) with anchors in anchor_values
        designed_anchors=[0, 8], chains_anchors=[0, 2, 4, 6, 8],
        # dose-response on the language model: a smaller model than chapter 10's
        lm_model=dict(n_layers=4, d_model=256, n_heads=4, n_kv_heads=2, d_ff=704),
        lm_train=dict(steps=1000, batch_size=32, seq_len=256, warmup=100, eval_every=50,
                      checkpoint_every=500),
        band=[20, 600], n_treated=8, n_control=8, p_values=[0.0, 0.25, 0.5, 0.75, 1.0],
        n_seeds=5,
        # sham draws (the page's sham and more draws at the same p and seeds): the null
        sham_draws=3,
        # trajectories: synthetic (task/d/lr of preset.theory) and language model
        traj_steps=3000, traj_snapshots=20, threshold=0.9,
        lm_traj_gamma=1.2, lm_traj_snapshots=14, lm_traj_windows=64,
        # does the early direction shape the final geometry: continuations from the stop
        # with the early displacement scrambled (seeds x scrambles; one training each)
        early_seeds=3, early_draws=2,
    ),
}
