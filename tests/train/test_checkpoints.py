"""Checkpoint round trip (the occupancy grid too) and the restore API for inference."""

import os

import jax
import numpy as np
import pytest

from dfrf_jax.model import torch_import
from dfrf_jax.render.occupancy import OccupancyGrid
from dfrf_jax.train import checkpoints, optimizer
from tests.train.conftest import tiny_config


def _tree(seed: int) -> dict:
  rng = np.random.default_rng(seed)
  return {'coarse': {'kernel': rng.normal(size=(3, 4)).astype(np.float32)},
          'audio_att_net': {'bias': rng.normal(size=(2,)).astype(np.float32)}}


def test_round_trip_of_every_item(tmp_path):
  config = tiny_config()
  params = _tree(0)
  opt_state = optimizer.init_opt_state(params)
  opt_state = optimizer.apply_gradients(params, _tree(1), opt_state, np.int32(0), config.train,
                                        True)[1]
  meta = {'key': [1, 2], 'data_state': np.random.default_rng(5).bit_generator.state}
  mgr = checkpoints.manager(str(tmp_path / 'checkpoints'), keep=2)
  for step in (3, 6, 9):
    checkpoints.save(mgr, step, params, config, meta, opt_state)
  assert mgr.all_steps() == [6, 9]  # keep_checkpoints = 2
  abstract_opt = jax.eval_shape(lambda: opt_state)
  restored = checkpoints.restore(mgr, 9, jax.eval_shape(lambda: params), abstract_opt)
  jax.tree.map(np.testing.assert_array_equal, restored['params'], params)
  jax.tree.map(np.testing.assert_array_equal, restored['opt_state'], opt_state)
  assert restored['meta'] == dict(meta, step=9)
  assert restored['config'] == config
  assert restored['config'].model.skips == config.model.skips  # Tuples stay tuples.


@pytest.mark.parametrize('where', ['workdir', 'checkpoints', 'step'])
def test_load_checkpoint_accepts_workdir_folder_or_step(tmp_path, where):
  config = tiny_config()
  mgr = checkpoints.manager(str(tmp_path / 'checkpoints'))
  checkpoints.save(mgr, 4, _tree(0), config, {})
  checkpoints.save(mgr, 8, _tree(1), config, {})
  path = {'workdir': tmp_path, 'checkpoints': tmp_path / 'checkpoints',
          'step': tmp_path / 'checkpoints' / '4'}[where]
  loaded_config, params, step = checkpoints.load_checkpoint(str(path))
  assert step == (4 if where == 'step' else 8)
  assert loaded_config.model.netwidth == config.model.netwidth
  jax.tree.map(np.testing.assert_array_equal, params, _tree(0 if where == 'step' else 1))


def test_load_checkpoint_of_an_empty_folder_names_it(tmp_path):
  with pytest.raises(checkpoints.NoCheckpointError, match='holds no checkpoint'):
    checkpoints.load_checkpoint(str(tmp_path))


def _grid(seed: int, resolution: int = 4) -> OccupancyGrid:
  rng = np.random.default_rng(seed)
  return OccupancyGrid(density=rng.exponential(size=(resolution,) * 3).astype(np.float32),
                       aabb=np.array([[-1.0, -2.0, -3.0], [1.0, 2.0, 3.0]], np.float32))


def test_occupancy_grid_round_trip(tmp_path):
  config = tiny_config()
  mgr = checkpoints.manager(str(tmp_path / 'checkpoints'))
  grid = _grid(0)
  checkpoints.save(mgr, 5, _tree(0), config, {}, grid=grid)
  restored = checkpoints.restore(mgr, 5)['occupancy']
  loaded = checkpoints.load_occupancy(str(tmp_path))
  for got in (restored, loaded):
    assert got.density.dtype == np.float32 and got.aabb.dtype == np.float32
    np.testing.assert_array_equal(got.density, grid.density)
    np.testing.assert_array_equal(got.aabb, grid.aabb)


def test_checkpoint_without_a_grid_loads_with_none(tmp_path):
  mgr = checkpoints.manager(str(tmp_path / 'checkpoints'))
  checkpoints.save(mgr, 2, _tree(0), tiny_config(), {})
  assert checkpoints.restore(mgr, 2)['occupancy'] is None
  assert checkpoints.load_occupancy(str(tmp_path)) is None
  assert checkpoints.load_checkpoint(str(tmp_path))[2] == 2


def test_stored_grid_of_a_wrong_shape_names_the_item(tmp_path):
  mgr = checkpoints.manager(str(tmp_path / 'checkpoints'))
  bad = OccupancyGrid(density=np.zeros((2, 3, 4), np.float32), aabb=np.zeros((2, 3), np.float32))
  checkpoints.save(mgr, 1, _tree(0), tiny_config(), {}, grid=bad)
  with pytest.raises(ValueError, match=r'1/occupancy: expected density \[G, G, G\]'):
    checkpoints.load_occupancy(str(tmp_path))


def test_loading_leaves_a_running_save_alone(tmp_path):
  # A run saving step 8 has its temporary folder in place while another process renders step 4.
  folder = tmp_path / 'checkpoints'
  mgr = checkpoints.manager(str(folder))
  checkpoints.save(mgr, 4, _tree(0), tiny_config(), {})
  in_progress = folder / '8.orbax-checkpoint-tmp' / 'params'
  in_progress.mkdir(parents=True)
  (in_progress / 'part').write_bytes(b'being written')
  checkpoints.load_checkpoint(str(tmp_path))
  checkpoints.load_occupancy(str(tmp_path))
  assert (in_progress / 'part').read_bytes() == b'being written'
  assert sorted(os.listdir(folder)) == ['4', '8.orbax-checkpoint-tmp']
  # The writing manager of a restarted run does clean it up (what the readers must not do); it
  # deletes in the background and waits for that before its first save.
  checkpoints.save(checkpoints.manager(str(folder)), 12, _tree(0), tiny_config(), {})
  assert sorted(os.listdir(folder)) == ['12', '4']


def test_restoring_params_of_another_architecture_names_the_parameter_and_shapes(tmp_path):
  mgr = checkpoints.manager(str(tmp_path / 'checkpoints'))
  checkpoints.save(mgr, 1, _tree(0), tiny_config(), {})
  wider = jax.eval_shape(lambda: dict(_tree(0), coarse={'kernel': np.zeros((3, 8), np.float32)}))
  with pytest.raises(torch_import.CheckpointError,
                     match=r"checkpoints/1: params of another architecture than config.model: "
                           r"/coarse/kernel: found shape \(3, 4\), expected \(3, 8\);"):
    checkpoints.restore(mgr, 1, wider)


def test_non_finite_params_are_never_saved(tmp_path):
  mgr = checkpoints.manager(str(tmp_path / 'checkpoints'))
  params = _tree(0)
  params['coarse']['kernel'][1, 2] = np.inf
  with pytest.raises(checkpoints.NonFiniteParamsError,
                     match=r"checkpoints/4: not saved, params\['coarse'\]\['kernel'\] holds NaN or "
                           r"inf \(1 of 2 param arrays do\)"):
    checkpoints.save(mgr, 4, params, tiny_config(), {})
  assert mgr.all_steps() == []


def test_load_checkpoint_fills_fields_added_since_the_run_was_saved(tmp_path):
  # A run saved before render.accel.interpolate_features and data.lip_sample_rate existed.
  old = tiny_config()
  with old.unlocked():
    del old.render.accel['interpolate_features']
    del old.data['lip_sample_rate']
    old.render.accel.density_threshold = 3.0  # a saved value, kept
  checkpoints.save(checkpoints.manager(str(tmp_path / 'checkpoints')), 5, _tree(0), old, {})
  config, _, step = checkpoints.load_checkpoint(str(tmp_path))
  assert step == 5
  assert config.render.accel.interpolate_features is True and config.data.lip_sample_rate == 0.0
  assert config.render.accel.density_threshold == 3.0
