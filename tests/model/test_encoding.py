"""Positional encoding against a float64 NumPy derivation."""

import numpy as np
import pytest

from dfrf_jax.model.encoding import encoded_width, positional_encoding


@pytest.mark.parametrize('num_freqs', [0, 4, 10])
def test_matches_float64_derivation(num_freqs):
  x = np.random.default_rng(num_freqs).normal(size=(7, 3))
  want = [x]
  for k in range(num_freqs):
    want += [np.sin(x * 2.0 ** k), np.cos(x * 2.0 ** k)]
  want = np.concatenate(want, -1)
  got = np.asarray(positional_encoding(x.astype(np.float32), num_freqs))
  assert got.shape == (7, encoded_width(3, num_freqs))
  np.testing.assert_allclose(got, want, atol=2e-5 * 2 ** num_freqs)
