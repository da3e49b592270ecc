"""The accelerated train step over an all-occupied grid with a full budget equals the dense step."""

import jax
import numpy as np
import pytest

from dfrf_jax.data.dataset import load_dataset
from dfrf_jax.model.dfrf import build_model
from dfrf_jax.render import accelerated, march_state, occupancy
from dfrf_jax.train import batches, loop, state as state_lib
from dfrf_jax.train.step import make_train_step
from tests.train.conftest import DATASET, tiny_config


def _one_step(sampler: str, selection: bool = False):
  config = tiny_config()
  config.model.slot_init = 'mean'  # no slot noise: the two samplers would draw it differently
  config.train.sampler = sampler
  config.render.accel.initial_fraction = 1.0  # a budget for every sample
  config.render.accel.train_selection = selection
  model = build_model(config.model)
  mesh = loop.make_mesh(1)
  params = state_lib.fresh_params(model, jax.random.key(0))
  state = loop.replicate(state_lib.new_state(params, jax.random.key(1)), mesh)
  batch = batches.shard(batches.draw_batch(np.random.default_rng(0), load_dataset(DATASET), config),
                        mesh)
  step = make_train_step(model, config, 0.6, 1.2, mesh)
  marching = None
  if sampler == 'accelerated':
    # Every cell occupied (inf > threshold) and a box around every sample.
    box = np.array([[-100.0] * 3, [100.0] * 3], np.float32)
    grid = occupancy.init_occupancy(box, 2, np.inf)
    marching = march_state.MarchState(
        grid=grid, mask=occupancy.occupancy_mask(grid, 0.5, 0),
        budget=accelerated.initial_budget(batches.rays_per_step(config), config.render, train=True))
  state, metrics = step(state, batch, False, True, marching)
  return jax.device_get(state.params), jax.device_get(metrics)


@pytest.fixture(scope='module')
def dense_step():
  return _one_step('dense')


def test_accelerated_step_equals_dense_step(dense_step):
  params_dense, dense = dense_step
  params_accel, accel = _one_step('accelerated')
  assert int(accel['overflow']) == 0 and float(accel['occupied']) == 1.0
  # Aggregated features: every coarse sample but each ray's last (the background, composited
  # without the networks), then the importance samples; the fine pass reuses the coarse ones.
  np.testing.assert_allclose(accel['samples_per_ray'], 7 + 8)
  for name in ('loss', 'mse', 'mse0'):
    np.testing.assert_allclose(accel[name], dense[name], rtol=1e-5, err_msg=name)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-6),
               params_accel, params_dense)


def test_marching_state_rejects_an_unknown_sampler():
  config = tiny_config()
  config.train.sampler = 'sparse'
  with pytest.raises(ValueError, match="config.train.sampler must be one of .* got 'sparse'"):
    march_state.create_for_training(build_model(config.model), {}, [], config, 0.6, 1.2, 0,
                                    jax.random.key(0))


def test_step_with_sample_selection_equals_dense_step(dense_step):
  # Only the selected samples are differentiated (`accel.train_selection`): the same loss, and
  # parameters as close to the dense step's as those of the step without selection.
  params_dense, dense = dense_step
  params_accel, accel = _one_step('accelerated', selection=True)
  assert int(accel['overflow']) == 0
  assert 0.0 < float(accel['grad_samples_per_ray']) < float(accel['samples_per_ray'])
  for name in ('loss', 'mse', 'mse0'):
    np.testing.assert_allclose(accel[name], dense[name], rtol=1e-5, err_msg=name)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-6),
               params_accel, params_dense)
