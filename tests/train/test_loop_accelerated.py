"""Training with the accelerated sampler: it learns, adapts its budget, saves its grid, resumes exactly."""

import json
import os

import jax
import numpy as np
import pytest

from dfrf_jax.data.dataset import load_dataset
from dfrf_jax.render import accelerated
from dfrf_jax.render import march_state
from dfrf_jax.train import batches, checkpoints, loop
from tests.train.conftest import DATASET, accelerated_config


def _config(n_iters: int):
  return accelerated_config(N_iters=n_iters, i_weights=4, i_print=1)


@pytest.fixture(scope='module')
def full_run(tmp_path_factory):
  """An uninterrupted 8-step accelerated run, logging every step, checkpoints at 4 and 8."""
  workdir = str(tmp_path_factory.mktemp('accelerated'))
  loop.train(_config(8), workdir)
  return workdir


def _metrics(workdir: str) -> list[dict[str, float]]:
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [json.loads(line) for line in f]


def test_run_is_finite_and_saves_its_grid(full_run):
  metrics = _metrics(full_run)
  assert [m['step'] for m in metrics] == list(range(1, 9))
  assert all(np.isfinite(m['loss']) and 0.0 < m['occupied'] <= 1.0 for m in metrics)
  config = _config(8)
  near, far = loop.near_far(load_dataset(DATASET), config)
  grids = [checkpoints.load_occupancy(os.path.join(full_run, 'checkpoints', str(s))) for s in (4, 8)]
  for g in grids:
    assert g.density.shape == (8, 8, 8)
    np.testing.assert_allclose(g.aabb, march_state.training_aabb(load_dataset(DATASET), near, far))
  assert not np.array_equal(grids[0].density, grids[1].density)  # updated at steps 6 and 8


def test_budget_grows_until_nothing_overflows(full_run):
  metrics = _metrics(full_run)
  config = _config(8)
  first = accelerated.initial_budget(batches.rays_per_step(config), config.render, train=True)
  stored = checkpoints.restore(checkpoints.manager(os.path.join(full_run, 'checkpoints')),
                               8)['meta']['budget']
  # The first two steps run on the tiny first budget (stats are read one step late).
  assert metrics[0]['overflow'] > 0 and metrics[1]['overflow'] > 0
  assert [m['overflow'] for m in metrics[2:]] == [0.0] * 6
  assert metrics[-1]['samples_per_ray'] > metrics[0]['samples_per_ray']
  assert sum(stored['coarse'] + stored['fine']) > sum(first.coarse + first.fine)


def test_resumed_run_equals_uninterrupted_run(full_run, tmp_path):
  workdir = str(tmp_path)
  loop.train(_config(4), workdir)
  loop.train(_config(8), workdir)
  _, params_full, _ = checkpoints.load_checkpoint(full_run)
  _, params_resumed, step = checkpoints.load_checkpoint(workdir)
  assert step == 8
  jax.tree.map(np.testing.assert_array_equal, params_resumed, params_full)
  grid_full, grid_resumed = checkpoints.load_occupancy(full_run), checkpoints.load_occupancy(workdir)
  np.testing.assert_array_equal(grid_resumed.density, grid_full.density)
  np.testing.assert_array_equal(grid_resumed.aabb, grid_full.aabb)
