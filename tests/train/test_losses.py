"""Photometric loss, PSNR and the warp-offset regulariser against float64 NumPy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dfrf_jax.train import losses


def test_mse_and_psnr_closed_form():
  a = np.zeros((10, 3), np.float32)
  b = np.full((10, 3), 0.1, np.float32)
  assert float(losses.mse(a, b)) == pytest.approx(0.01, rel=1e-6)
  assert float(losses.psnr(losses.mse(a, b))) == pytest.approx(20.0, rel=1e-5)


def _random(seed):
  rng = np.random.default_rng(seed)
  offsets = rng.normal(scale=3.0, size=(4, 5, 6, 2))
  weights = rng.uniform(0, 0.5, size=(5, 6))
  z = rng.uniform(0.5, 3.0, size=(5, 6))
  sigma = rng.normal(scale=2.0, size=(5, 6))
  return offsets, weights, z, sigma


def test_code_regulariser_matches_float64():
  offsets, weights, z, sigma = _random(0)
  want = np.mean(np.mean(offsets ** 2, axis=(0, 3)) * (1 - np.minimum(weights * z, 1)))
  got = losses.offset_regularizer(*(x.astype(np.float32) for x in (offsets, weights, z, sigma)), 'code')
  assert float(got) == pytest.approx(want, rel=1e-5)


def test_paper_regulariser_matches_float64():
  offsets, weights, z, sigma = _random(1)
  norm = np.mean(np.sqrt(np.sum(offsets ** 2, -1)), axis=0)
  want = np.mean(norm * (1 - np.minimum(np.maximum(sigma, 0), 1)))
  got = losses.offset_regularizer(*(x.astype(np.float32) for x in (offsets, weights, z, sigma)), 'paper')
  assert float(got) == pytest.approx(want, rel=1e-5)


def test_regulariser_weights_are_gradient_stopped():
  offsets, weights, z, sigma = (jnp.asarray(x, jnp.float32) for x in _random(2))
  for mode in ('code', 'paper'):
    g_w, g_z, g_s = jax.grad(lambda w, zz, s: losses.offset_regularizer(offsets, w, zz, s, mode),
                             argnums=(0, 1, 2))(weights, z, sigma)
    for g in (g_w, g_z, g_s):
      np.testing.assert_array_equal(g, 0.0)


def test_unknown_mode_is_an_error():
  with pytest.raises(ValueError, match='offset_reg'):
    losses.offset_regularizer(*(jnp.asarray(x) for x in _random(3)), 'huber')
