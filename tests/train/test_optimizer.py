"""Learning-rate schedule and the two Adam optimisers against a float64 NumPy Adam."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dfrf_jax import config as default_config
from dfrf_jax.train import optimizer


def test_learning_rate_matches_the_authors_values():
  t = default_config.default_config().train
  # Step g runs at lr(g - 1) = 5e-4 * 0.1^((g - 1) / 750000); the spec lists lr(100k) etc.
  for g, lr in [(0, 5e-4), (1, 5e-4), (100_001, 3.68e-4), (300_001, 1.99e-4), (600_001, 7.9e-5)]:
    assert float(optimizer.learning_rate(t, g)) == pytest.approx(lr, rel=5e-3)  # The spec rounds to 3 digits.


def _adam_reference(p, grads, lr):
  """float64 Adam (0.9, 0.999, 1e-8) over a list of gradients, from zero moments."""
  m = np.zeros_like(p)
  v = np.zeros_like(p)
  for k, (g, rate) in enumerate(zip(grads, lr), 1):
    m = 0.9 * m + 0.1 * g
    v = 0.999 * v + 0.001 * g * g
    p = p - rate * (m / (1 - 0.9 ** k)) / (np.sqrt(v / (1 - 0.999 ** k)) + 1e-8)
  return p


def test_audio_att_net_steps_only_with_smoothing_and_at_five_times_the_rate():
  t = default_config.default_config().train
  t.lrate_decay, t.lrate_decay_unit = 2, 1  # A fast decay, so that the per-step rate matters.
  rng = np.random.default_rng(0)
  params = {'coarse': {'w': rng.normal(size=(3,)).astype(np.float32)},
            'audio_att_net': {'w': rng.normal(size=(2,)).astype(np.float32)}}
  grads = [jax.tree.map(lambda x: rng.normal(size=x.shape).astype(np.float32), params)
           for _ in range(3)]
  state = optimizer.init_opt_state(params)
  p = params
  for step, (g, smoothing) in enumerate(zip(grads, (False, True, True))):
    p, state = optimizer.apply_gradients(p, g, state, jnp.asarray(step), t, smoothing)
  lr = [float(optimizer.learning_rate(t, s)) for s in range(3)]
  np.testing.assert_allclose(
      p['coarse']['w'], _adam_reference(params['coarse']['w'].astype(np.float64),
                                        [g['coarse']['w'] for g in grads], lr), rtol=1e-5)
  # AudioAttNet skipped step 0: its Adam starts at step 1 with count 1, at 5x the rate.
  np.testing.assert_allclose(
      p['audio_att_net']['w'],
      _adam_reference(params['audio_att_net']['w'].astype(np.float64),
                      [g['audio_att_net']['w'] for g in grads[1:]], [5 * r for r in lr[1:]]),
      rtol=1e-5)
