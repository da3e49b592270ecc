"""map_in_chunks: equal slices, little padding, the same result as one call; the per-backend chunk."""

import jax.numpy as jnp
import numpy as np
import pytest

from dfrf_jax.render.chunking import CPU_POINT_CHUNK, map_in_chunks, points_per_call


def _fn(x, y):
  # Row-wise, and reports the slice size it was traced with.
  return {'sum': x * 2.0 + y[:, :1], 'rows': jnp.full((x.shape[0],), x.shape[0])}


@pytest.mark.parametrize('num, chunk, rows', [(10, 4, 4), (12, 4, 4), (9000, 4096, 3000),
                                              (8193, 4096, 2731), (5, 8, 5)])
def test_slices_are_equal_and_results_match_one_call(num, chunk, rows):
  rng = np.random.default_rng(num)
  x = rng.normal(size=(num, 3)).astype(np.float32)
  y = rng.normal(size=(num, 2)).astype(np.float32)
  out = map_in_chunks(_fn, (jnp.asarray(x), jnp.asarray(y)), chunk)
  np.testing.assert_allclose(out['sum'], x * 2.0 + y[:, :1], rtol=1e-6)
  # ceil(num / chunk) slices of ceil(num / slices) rows: at most one padded row per slice.
  assert out['rows'].shape == (num,)
  assert set(np.asarray(out['rows']).tolist()) == {rows}
  slices = -(-num // chunk)
  assert slices * rows - num < slices


def test_chunk_must_be_positive():
  with pytest.raises(ValueError, match='chunk must be at least 1'):
    map_in_chunks(_fn, (jnp.zeros((3, 3)), jnp.zeros((3, 2))), 0)


def test_points_per_call_defaults_by_backend():
  assert points_per_call(512) == 512
  assert points_per_call(0) == CPU_POINT_CHUNK  # the suite runs on the CPU backend
  with pytest.raises(ValueError, match='point_chunk must be >= 0'):
    points_per_call(-1)
