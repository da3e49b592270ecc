"""map_in_chunks: equal slices, one call's result, slices of padding skipped; the per-backend chunk."""

import jax
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


@pytest.mark.parametrize('num_valid', [0, 1, 7, 8, 9, 30])
def test_slices_of_padding_only_are_not_evaluated(num_valid):
  # 30 rows in 4 slices of 8 (the last padded by 2): slices starting at or after num_valid are
  # skipped and give zeros; every other slice is evaluated whole.
  rng = np.random.default_rng(num_valid)
  x = rng.normal(size=(30, 3)).astype(np.float32) + 5.0
  y = rng.normal(size=(30, 2)).astype(np.float32)
  out = map_in_chunks(_fn, (jnp.asarray(x), jnp.asarray(y)), 8, num_valid=jnp.int32(num_valid))
  evaluated = np.arange(30) // 8 * 8 < num_valid
  expected = np.where(evaluated[:, None], x * 2.0 + y[:, :1], 0.0)
  np.testing.assert_allclose(out['sum'], expected, rtol=1e-6)
  np.testing.assert_array_equal(out['rows'], np.where(evaluated, 8, 0))


def test_gradients_flow_through_evaluated_slices_only():
  x = jnp.arange(20.0).reshape(10, 2)

  def loss(x):
    return jnp.sum(map_in_chunks(lambda a: a ** 2, (x,), 4, num_valid=jnp.int32(5)))

  # Slices of 4 rows (the last padded): rows 0-7 are evaluated, rows 8-9 skipped.
  expected = np.where(np.arange(10)[:, None] < 8, 2.0 * np.asarray(x), 0.0)
  np.testing.assert_allclose(jax.grad(loss)(x), expected)
