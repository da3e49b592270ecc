"""Shared set-up of the training tests: the fixture's paths and the tiny test config."""

import os
import sys

import ml_collections

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATASET = os.path.join(ROOT, 'tests', 'fixtures', 'parity', 'dataset', 'synth_fixture')
TORCH_CHECKPOINT = os.path.join(ROOT, 'tests', 'fixtures', 'parity', '000060_head.tar')
sys.path.insert(0, os.path.join(ROOT, 'configs'))

import test as test_config  # pylint: disable=g-import-not-at-top,wrong-import-position


def tiny_config(**train: int) -> ml_collections.ConfigDict:
  """configs/test.py on the parity fixture, smoothing off unless asked, no validation render."""
  config = test_config.get_config()
  config.data_dir = DATASET
  config.train.nosmo_iters = 10_000
  config.train.i_img = 10_000
  config.train.update(train)
  return config
