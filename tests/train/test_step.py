"""Data parallelism: one step with the rays split over 2 devices equals the step on 1 device."""

import jax
import numpy as np
import pytest

from dfrf_jax.data.dataset import load_dataset
from dfrf_jax.model.dfrf import build_model
from dfrf_jax.train import batches, loop, state as state_lib
from dfrf_jax.train.step import make_train_step
from tests.train.conftest import DATASET, tiny_config


def _one_step(num_devices: int):
  config = tiny_config()
  model = build_model(config.model)
  mesh = loop.make_mesh(num_devices)
  params = state_lib.fresh_params(model, jax.random.key(0))
  state = jax.device_put(state_lib.new_state(params, jax.random.key(1)),
                         jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))
  batch = batches.draw_batch(np.random.default_rng(0), load_dataset(DATASET), config)
  step = make_train_step(model, config, 0.6, 1.2, mesh)
  state, metrics = step(state, batches.shard(batch, mesh), True, True)
  return jax.device_get(state.params), jax.device_get(metrics)


def test_two_devices_equal_one_device():
  assert jax.device_count() >= 2
  params_1, metrics_1 = _one_step(1)
  params_2, metrics_2 = _one_step(2)
  assert bool(metrics_1['finite']) and bool(metrics_2['finite'])
  np.testing.assert_allclose(metrics_2['loss'], metrics_1['loss'], rtol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
               params_2, params_1)
  # The step changed every module (AudioAttNet too: smoothing is on).
  init = state_lib.fresh_params(build_model(tiny_config().model), jax.random.key(0))
  for name in init:
    changed = jax.tree.map(lambda a, b: not np.allclose(a, b), params_1[name], init[name])
    assert any(jax.tree.leaves(changed)), name


def test_rays_must_divide_over_devices(tmp_path):
  # Without extra outside rays nothing rounds the step's rays up: N_rand itself must divide.
  config = tiny_config()
  config.data.N_rand, config.data.extra_outside_rate = 63, 0.0
  with pytest.raises(ValueError, match=r'N_rand = 63 rays per step do not divide by the 2 devices '
                     r'.*--config.data.N_rand=64$'):
    loop.train(config, str(tmp_path), loop.make_mesh(2))
