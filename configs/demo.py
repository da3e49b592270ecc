"""Demo: a small model trained on the 64 px parity fixture (or a dfrf-make-synthetic dataset) on CPU.

  dfrf-train --config=configs/demo.py \\
      --config.data_dir=tests/fixtures/parity/dataset/synth_fixture --workdir=runs/demo

Narrow networks (width 64), 16 + 16 samples, 256 rays per step, 2 references (the fixture has only
12 train frames). Runtime: a few minutes on 2 CPU cores (about 0.2-0.4 s per step after ~1 minute of
compilation). Expected result: the training PSNR in metrics.jsonl rises from ~15 dB to ~20 dB; the
validation image (TensorBoard, val/rgb) shows a blurry face on the plate.
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
  c.data.test_ref_positions = ()
  t = c.train
  t.lrate = 2e-3
  t.N_iters, t.nosmo_iters = 600, 300
  t.i_weights, t.i_print, t.i_img = 200, 20, 200
  return c
