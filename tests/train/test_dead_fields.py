"""Dead radiance fields: the monitor's rule, the stop of a real run, and the revival of a dead pass
(density noise, then the identity's gradient where the noise cannot reach)."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dfrf_jax import api, config as config_lib
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
  """The fine field's density bias starts at -30 and revival is off: relu gives 0 on every sample."""
  fresh = state_lib.fresh_params

  def dead_fine_field(model, key):
    params = fresh(model, key)
    fine = dict(params['fine'], alpha={**params['fine']['alpha'],
                                       'bias': jnp.full((1,), -30.0, jnp.float32)})
    return dict(params, fine=fine)

  monkeypatch.setattr(state_lib, 'fresh_params', dead_fine_field)
  # The coarse field needs 20-40 steps to get 1 dB above the plate here: 60 steps of patience.
  config = tiny_config(N_iters=90, i_weights=90, dead_field_patience=60, density_revive_below=0.0)
  with pytest.raises(dead_fields.DeadFieldError) as raised:
    loop.train(config, str(tmp_path))
  message = str(raised.value)
  assert '\n' not in message
  assert message.startswith('step 60: the fine field has rendered only the background plate for '
                            '60 steps')
  assert '0.0% of its samples have positive density' in message


def _pass(rays: int, samples: int, positive: int) -> jnp.ndarray:
  """[rays, samples] raw densities: -0.2 everywhere but `positive` inner samples (+0.3) and every
  ray's background sample (+0.5, not counted by `live_share`)."""
  inner = np.full(rays * (samples - 1), -0.2, np.float32)
  inner[:positive] = 0.3
  background = np.full((rays, 1), 0.5, np.float32)
  return jnp.asarray(np.concatenate([inner.reshape(rays, samples - 1), background], axis=1))


def test_density_noise_fires_on_a_dead_pass_and_not_on_an_early_dip():
  """Default rule, at configs/test.py's pass sizes (64 rays x 8 and 16 samples) and the demo's (256 x
  16 and 32). Without revival a healthy coarse field (test config, seed 4) started with 2 of its 448
  samples positive and rose by itself; dying ones (seeds 3 fine, 7 coarse) went through 1-5
  positive samples to none in the first 3-5 steps and stayed there (docs/training.md, "Dead fields")."""
  config = tiny_config()
  config.render.raw_noise_std = 0.1  # what a pass without revival gets
  rule = step_lib.density_noise_rule(config)
  for rays, samples in ((64, 8), (64, 16), (256, 16), (256, 32)):
    assert float(rule(_pass(rays, samples, positive=0))) == pytest.approx(1.0)  # dead: revive
    for positive in (1, 2, 5, rays * (samples - 1) // 2):  # a dip, or healthy: unchanged
      assert float(rule(_pass(rays, samples, positive))) == pytest.approx(0.1), (rays, positive)


def test_density_noise_threshold_and_strength_follow_the_config():
  config = tiny_config()
  config.train.density_revive_below, config.train.density_revive_noise = 0.05, 0.7
  config.render.raw_noise_std = 0.1
  rule = step_lib.density_noise_rule(config)
  for positive, want in ((0, 0.7), (1, 0.7), (2, 0.1), (20, 0.1)):  # of 36 inner samples
    assert float(rule(_pass(4, 10, positive))) == pytest.approx(want)
  config.train.density_revive_below = 0.0  # the authors' training: no rule at all
  assert step_lib.density_noise_rule(config) is None


def test_gradient_revival_fires_where_the_noise_left_no_sample_positive():
  config = tiny_config()
  rule = jax.jit(step_lib.gradient_revival_rule(config))
  for rays, samples in ((64, 8), (256, 32)):
    assert bool(rule(_pass(rays, samples, positive=0)))
    for positive in (1, 5, rays * (samples - 1) // 2):
      assert not bool(rule(_pass(rays, samples, positive))), (rays, positive)
  config.train.density_revive_below = 0.05
  rule = step_lib.gradient_revival_rule(config)
  for positive, want in ((0, True), (1, True), (2, False), (20, False)):  # of 36 inner samples
    assert bool(rule(_pass(4, 10, positive))) == want
  config.train.density_revive_below = 0.0  # the authors' training: no rule at all
  assert step_lib.gradient_revival_rule(config) is None


def test_revival_brings_back_a_field_that_starts_dead(tmp_path):
  """A coarse field whose raw density is -0.5 or -30 on every sample: dead without revival, learning
  with it.

  (Which seeds die by themselves depends on every random draw of a run; this field is dead by
  construction: its density layer is zero weights and a negative bias, so relu passes no gradient.
  At -30 the noise, N(0, 1), makes no sample positive: the identity's gradient revives it.)

  With the authors' rays: on this 12-frame fixture the defaults' face-only audio code leaves the
  field revived from -30 swinging between all samples positive and a quarter (10-step gains over
  the plate of -2.3 to +0.2 dB in 120 steps, against +1.5 to +2.7 dB from step 40 with the authors'
  rays); on an 80-frame clip the two climb alike (docs/training.md, "On by default").
  """
  config = tiny_config()
  for bias in (-0.5, -30.0):
    params = jax.device_get(api.init_params(api.build_model(config.model), jax.random.key(0)))
    alpha = params['coarse']['alpha']
    alpha['kernel'] = np.zeros_like(alpha['kernel'])
    alpha['bias'] = np.full_like(alpha['bias'], bias)
    api.save_checkpoint(str(tmp_path / f'init{bias}'), 0, params, config)
  gains = {}
  for bias, below in ((-0.5, 0.0), (-0.5, config.train.density_revive_below),
                      (-30.0, config.train.density_revive_below)):  # off, default, default
    run = tiny_config(N_iters=60, i_weights=60, i_print=1, density_revive_below=below,
                      dead_field_patience=0)
    config_lib.use_authors_sampling(run)
    run.init_from = str(tmp_path / f'init{bias}')
    workdir = tmp_path / f'{bias}_{below}'
    loop.train(run, str(workdir))
    rows = [json.loads(line) for line in open(workdir / 'metrics.jsonl')]
    last = rows[-10:]
    gains[bias, below] = (np.mean([r['psnr0'] - r['psnr_bg'] for r in last]),
                          np.mean([r['live0'] for r in last]), sum(r.get('revive0', 0) for r in rows),
                          sum(r.get('revive_grad0', 0) for r in rows))
  off, default = gains[-0.5, 0.0], gains[-0.5, config.train.density_revive_below]
  assert off[1] == 0.0 and off[0] < 0.2  # dead: the background plate, no density
  # Revived and learning: from -30 the density needs more of the 60 steps to climb (20 revived
  # steps here, 2.7 dB above the plate by the end, against 3 steps and 3.6 dB from -0.5).
  for bias, min_gain in ((-0.5, 1.5), (-30.0, 0.3)):
    gain, live, revived, by_gradient = gains[bias, config.train.density_revive_below]
    assert live > 0.2 and gain > min_gain, (bias, gains)
    assert 1 <= revived < 50, (bias, gains)  # the rule fired, then the field stood on its own
    # The noise reaches -0.5 (about a third of the samples turn positive): no gradient stage. At
    # -30 it makes none positive, so the identity's gradient lifts the densities until it does
    # (17 of 20 noisy steps here).
    if bias == -0.5:
      assert by_gradient == 0, gains
    else:
      assert 1 <= by_gradient <= revived, gains
