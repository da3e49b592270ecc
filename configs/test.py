"""Test config: tiny networks for unit tests; a step takes ~30 ms on one CPU core once compiled.

  dfrf-train --config=configs/test.py --config.data_dir=tests/fixtures/parity/dataset/synth_fixture \\
      --workdir=/tmp/dfrf_test

Expected: 20 steps in 1-2 minutes on 2 shared CPU cores, nearly all of it XLA compilation (two step
variants, smoothing off/on, and the validation render); the loss goes down slowly, nothing else is
meaningful at this size.
"""

import ml_collections

from dfrf_jax import config as default


def get_config() -> ml_collections.ConfigDict:
  c = default.default_config()
  m = c.model
  m.netdepth, m.netwidth, m.netwidth_fine = 2, 16, 16
  m.skips = (1,)
  m.multires, m.multires_views, m.multires_ref = 4, 2, 2
  m.dim_aud, m.feature_hidden, m.feature_dim = 16, 8, 16
  m.audatt_channels = 16
  m.warp_hidden = (16, 8)
  m.num_slots, m.slot_dim, m.slot_iters, m.slot_side_dim = 2, 16, 1, 8
  m.num_reference_images = 2
  c.render.N_samples, c.render.N_importance, c.render.chunk = 8, 8, 1024
  c.render.accel.grid_resolution = 16
  c.data.N_rand = 64
  c.data.test_ref_positions = ()
  t = c.train
  t.lrate = 5e-3
  t.N_iters, t.nosmo_iters = 20, 10
  t.i_weights, t.i_print, t.i_img, t.keep_checkpoints = 10, 5, 20, 2
  return c
