"""Demo: a small model trained on the 64 px parity fixture (or a dfrf-make-synthetic dataset) on CPU.

  dfrf-train --config=configs/demo.py \\
      --config.data_dir=tests/fixtures/parity/dataset/synth_fixture --workdir=runs/demo

Narrow networks (width 64), 16 + 16 samples, 256 rays per step of which a quarter inside the mouth
(plus 25 outside the face, data.extra_outside_rate), 2 references (the fixture has only 12 train
frames). Runtime: about 8 minutes on 2 CPU cores shared with other work (~1 minute of
compilation, then 0.3-0.8 s per step). Measured on the parity fixture: the training PSNR in
metrics.jsonl rises from ~18 dB (step 20) to ~27-29 dB by step 360, and the validation frame
(TensorBoard val/rgb) renders at ~28 dB PSNR at step 200.
"""

import ml_collections

from dfrf_jax import config as default


def get_config() -> ml_collections.ConfigDict:
  c = default.default_config()
  m = c.model
  m.netwidth = m.netwidth_fine = 64
  m.netdepth = 4
  m.skips = (2,)
  m.num_reference_images = 2
  m.feature_hidden, m.feature_dim = 32, 64
  m.slot_dim = 64
  c.render.N_samples, c.render.N_importance = 16, 16
  c.data.N_rand = 256
  # A quarter of each step's rays inside the mouth (lip_rect): with the authors' sampling the mouth
  # gets ~2% of them and stays frozen at this size (docs/training.md, "Mouth rays").
  c.data.lip_sample_rate = 0.25
  c.data.test_ref_positions = ()
  t = c.train
  t.lrate = 2e-3
  t.N_iters, t.nosmo_iters = 600, 300
  t.i_weights, t.i_print, t.i_img = 200, 20, 200
  return c
