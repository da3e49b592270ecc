"""Depth bounds come from the datasets' config.txt; without one only an explicit flag falls back."""

import dataclasses
import os

import pytest

from dfrf_jax.data.dataset import load_dataset
from dfrf_jax.data.errors import DatasetError
from dfrf_jax.train import loop
from tests.train.conftest import DATASET, tiny_config


@pytest.fixture(scope='module')
def identity():
  return load_dataset(DATASET)[0]


def test_the_widest_bounds_of_the_identities(identity):
  other = dataclasses.replace(identity, near=0.2, far=1.0)
  assert loop.near_far([identity, other], tiny_config()) == (0.2, identity.far)


def test_missing_near_far_is_an_error_naming_config_txt(identity):
  missing = dataclasses.replace(identity, near=None, far=None)
  with pytest.raises(DatasetError, match='config.txt: missing.*allow_missing_near_far') as info:
    loop.near_far([identity, missing], tiny_config())
  assert os.path.join(identity.root, 'config.txt') in str(info.value)


def test_allowed_missing_near_far_uses_the_render_config(identity):
  config = tiny_config()
  config.data.allow_missing_near_far = True
  config.render.near, config.render.far = 0.1, 0.2
  missing = dataclasses.replace(identity, near=None, far=None)
  assert loop.near_far([missing], config) == (0.1, 0.2)
  assert loop.near_far([missing, identity], config) == (0.1, identity.far)
