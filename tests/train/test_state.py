"""Fine-tuning starts: from a trained run or an imported torch checkpoint; architecture mismatch."""

import jax
import numpy as np
import pytest

from dfrf_jax import config as default_config
from dfrf_jax.model import torch_import
from dfrf_jax.model.dfrf import build_model
from dfrf_jax.train import checkpoints, import_torch, loop, state as state_lib
from tests.train.conftest import TORCH_CHECKPOINT, tiny_config


@pytest.fixture(scope='module')
def imported(tmp_path_factory):
  out = str(tmp_path_factory.mktemp('imported'))
  import_torch.import_checkpoint(TORCH_CHECKPOINT, out, default_config.default_config())
  return out


def test_import_stores_the_checkpoint_widths_and_params(imported):
  config, params, step = checkpoints.load_checkpoint(imported)
  assert step == 59  # The file's global_step.
  assert (config.model.netdepth, config.model.netwidth, config.model.netwidth_fine) == (8, 128, 128)
  expected, _ = torch_import.torch_to_flax(torch_import.read_torch_checkpoint(TORCH_CHECKPOINT))
  jax.tree.map(np.testing.assert_array_equal, params, expected)


@pytest.mark.parametrize('reinit_warp', [True, False])
def test_init_from_imported_reinitialises_only_the_warp(imported, reinit_warp):
  config, base, _ = checkpoints.load_checkpoint(imported)
  config.train.reinit_warp = reinit_warp
  config.init_from = imported
  mgr = checkpoints.manager(imported + '_empty_run')
  state, _ = loop.initial_state(build_model(config.model), config, mgr, loop.make_mesh(1))
  assert int(state.step) == 0
  for name in base:
    same = jax.tree.map(np.array_equal, jax.device_get(state.params[name]), base[name])
    assert all(jax.tree.leaves(same)) == (name != 'warp' or not reinit_warp), name
  # A fresh optimiser.
  assert all(np.all(np.asarray(x) == 0) for x in jax.tree.leaves(state.opt_state['main'].mu))


def test_start_step_minus_one_continues_from_the_base_step(imported):
  config, base, _ = checkpoints.load_checkpoint(imported)
  config.train.start_step = -1
  model = build_model(config.model)
  _, step = state_lib.from_base(model, base, 59, jax.random.key(0), config.train, imported)
  assert step == 59


def test_base_of_another_architecture_is_refused(imported, tmp_path):
  config = tiny_config()
  config.init_from = imported
  with pytest.raises(torch_import.CheckpointError,
                     match=r'(?s)init_from .*another architecture.*/coarse/pts_0/kernel: found shape \(383, 128\)'):
    loop.initial_state(build_model(config.model), config,
                       checkpoints.manager(str(tmp_path)), loop.make_mesh(1))


def test_import_refuses_a_non_checkpoint(tmp_path):
  bad = tmp_path / 'x.tar'
  bad.write_bytes(b'not a checkpoint')
  with pytest.raises(torch_import.CheckpointError, match='x.tar: not a zip archive'):
    import_torch.import_checkpoint(str(bad), str(tmp_path / 'out'), default_config.default_config())
