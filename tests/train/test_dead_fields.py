"""Dead radiance fields: the monitor's rule, the stop of a real run, and the density warm-up."""

import json

import jax.numpy as jnp
import numpy as np
import pytest

from dfrf_jax.train import dead_fields, loop, state as state_lib, step as step_lib
from tests.train.conftest import tiny_config


def _values(coarse: float, fine: float, bg: float = 16.0) -> dict[str, float]:
  return {'psnr0': coarse, 'psnr': fine, 'psnr_bg': bg, 'live0': 0.0, 'live': 0.25}


def test_monitor_raises_once_a_field_stays_at_the_background_for_patience_steps():
  monitor = dead_fields.DeadFieldMonitor(patience=5, min_gain_db=1.0)
  for step in range(4):
    monitor.update(step, _values(coarse=16.5, fine=20.0))
  with pytest.raises(dead_fields.DeadFieldError,
                     match=r'^step 5: the coarse field has rendered only the background plate for '
                           r'5 steps \(training PSNR 16.50 dB, background alone 16.00 dB; 0.0% '):
    monitor.update(4, _values(coarse=16.5, fine=20.0))


def test_monitor_restarts_the_count_when_a_field_leaves_the_background():
  monitor = dead_fields.DeadFieldMonitor(patience=3, min_gain_db=1.0)
  for step, fine in enumerate([16.2, 16.4, 17.5, 16.1, 16.3]):  # 17.5 is 1.5 dB above: learning
    monitor.update(step, _values(coarse=25.0, fine=fine))
  with pytest.raises(dead_fields.DeadFieldError, match=r'^step 6: the fine field .* for 3 steps'):
    monitor.update(5, _values(coarse=25.0, fine=16.0))


def test_monitor_with_zero_patience_never_raises_and_rejects_negative_patience():
  monitor = dead_fields.DeadFieldMonitor(patience=0, min_gain_db=1.0)
  for step in range(50):
    monitor.update(step, _values(coarse=16.0, fine=16.0))
  with pytest.raises(ValueError, match='dead_field_patience = -1'):
    dead_fields.DeadFieldMonitor(patience=-1, min_gain_db=1.0)


def test_a_run_whose_fine_field_is_dead_stops_with_a_one_line_error(tmp_path, monkeypatch):
  """The fine field's density bias starts at -30: relu gives 0 on every sample, whatever the noise."""
  fresh = state_lib.fresh_params

  def dead_fine_field(model, key):
    params = fresh(model, key)
    fine = dict(params['fine'], alpha={**params['fine']['alpha'],
                                       'bias': jnp.full((1,), -30.0, jnp.float32)})
    return dict(params, fine=fine)

  monkeypatch.setattr(state_lib, 'fresh_params', dead_fine_field)
  config = tiny_config(N_iters=60, i_weights=60, dead_field_patience=30)
  with pytest.raises(dead_fields.DeadFieldError) as raised:
    loop.train(config, str(tmp_path))
  message = str(raised.value)
  assert '\n' not in message
  assert message.startswith('step 30: the fine field has rendered only the background plate for '
                            '30 steps')
  assert '0.0% of its samples have positive density' in message


def test_density_noise_revives_only_passes_whose_field_is_dying():
  config = tiny_config()
  config.train.density_revive_below, config.train.density_revive_noise = 0.05, 0.7
  config.render.raw_noise_std = 0.1
  rule = step_lib.density_noise_rule(config)
  alive = jnp.where(jnp.arange(40) % 2 == 0, 0.3, -0.3).reshape(4, 10)  # 50% positive
  dying = jnp.full((4, 10), -0.2).at[0, 0].set(0.5).at[1, -1].set(0.5)  # 1 of 36 inner: 2.8%
  dead = jnp.full((4, 10), -0.2).at[:, -1].set(0.5)  # only the background samples are positive
  enough = jnp.full((4, 10), -0.2).at[0, :2].set(0.5)  # 2 of 36: 5.6%
  for sigma, want in ((alive, 0.1), (enough, 0.1), (dying, 0.7), (dead, 0.7)):
    assert float(rule(sigma)) == pytest.approx(want)
  config.train.density_revive_below = 0.0
  assert step_lib.density_noise_rule(config) is None


def test_revival_brings_back_a_field_that_dies_without_it(tmp_path):
  """Seed 3's coarse field dies in the first steps on the fixture without revival (docs/training.md)."""
  gains = {}
  for below in (0.0, 0.01):
    config = tiny_config(N_iters=60, i_weights=60, i_print=1, density_revive_below=below,
                         dead_field_patience=0)
    config.seed = 3
    workdir = tmp_path / str(below)
    loop.train(config, str(workdir))
    rows = [json.loads(line) for line in open(workdir / 'metrics.jsonl')][-10:]
    gains[below] = (np.mean([r['psnr0'] - r['psnr_bg'] for r in rows]),
                    np.mean([r['live0'] for r in rows]))
  assert gains[0.0][1] == 0.0 and gains[0.0][0] < 0.2  # dead: the background plate, no density
  assert gains[0.01][1] > 0.2 and gains[0.01][0] > 1.5  # revived: learning
