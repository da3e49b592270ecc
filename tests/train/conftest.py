"""Shared set-up of the training tests: the fixture's paths and the tiny test config."""

import os

import ml_collections

from dfrf_jax.api import load_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATASET = os.path.join(ROOT, 'tests', 'fixtures', 'parity', 'dataset', 'synth_fixture')
TORCH_CHECKPOINT = os.path.join(ROOT, 'tests', 'fixtures', 'parity', '000060_head.tar')


def tiny_config(**train: int) -> ml_collections.ConfigDict:
  """configs/test.py on the parity fixture, smoothing off unless asked, no validation render."""
  config = load_config('test')
  config.data_dir = DATASET
  config.train.nosmo_iters = 10_000
  config.train.i_img = 10_000
  config.train.update(train)
  return config


def accelerated_config(**train: int) -> ml_collections.ConfigDict:
  """`tiny_config` training with the accelerated sampler on a coarse grid, grid updates every 2 steps
  (every cell up to step 4), a first budget far too small and refits that cover every sample."""
  config = tiny_config(**train)
  config.train.sampler = 'accelerated'
  t = config.train
  t.grid_update_every, t.grid_warmup_steps, t.grid_update_cells = 2, 4, 64
  a = config.render.accel
  a.grid_resolution, a.num_segments, a.update_conditions = 8, 1, 2
  a.initial_fraction, a.budget_headroom, a.budget_granularity = 0.05, 3.0, 128
  return config
