"""Slot noise comes from the model's own 'slots' rng stream: drawn there when given, mu otherwise."""

import jax
import numpy as np

from dfrf_jax.config import default_config
from dfrf_jax.model.dfrf import DFRF, build_model, init_params
from tests.model.conftest import query_inputs


def test_the_model_draws_slot_noise_from_its_slots_stream():
  c = default_config()
  c.model.netwidth = c.model.netwidth_fine = 32
  c.model.netdepth, c.model.skips = 4, (2,)
  model = build_model(c.model)
  params = init_params(model, jax.random.PRNGKey(0))
  images, poses, points, viewdirs, code = query_inputs()
  feats = model.apply({'params': params}, images, poses, method=DFRF.reference_features)
  num_slots, dim = c.model.num_slots, c.model.slot_dim

  def fused(noise=None, rngs=None):
    out, state = model.apply({'params': params}, points, viewdirs, code, feats, poses, 20.0, noise,
                             (True,), method=DFRF.query_fields, rngs=rngs or {},
                             mutable=['intermediates'])
    return np.asarray(state['intermediates']['fused'][0]), np.asarray(out.raw)

  key = jax.random.PRNGKey(3)
  drawn, raw = fused(rngs={'slots': key})
  again, raw_again = fused(rngs={'slots': key})
  np.testing.assert_array_equal(drawn, again)  # a key gives one draw
  np.testing.assert_array_equal(raw, raw_again)
  other, _ = fused(rngs={'slots': jax.random.PRNGKey(4)})
  mean, _ = fused()
  zero, _ = fused(noise=np.zeros((points.shape[0], num_slots, dim), np.float32))
  assert np.abs(drawn - other).max() > 1e-3  # another key, other draws
  assert np.abs(drawn - mean).max() > 1e-3   # noise was drawn at all
  # Without a stream the slots start at mu: zero noise.
  np.testing.assert_allclose(mean, zero, rtol=1e-6, atol=1e-6)
