"""Coarse and hierarchical sample depths against float64 NumPy derivations and closed-form properties."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dfrf_jax.render import sampling


def _sample_pdf_reference(bins: np.ndarray, weights: np.ndarray, u: np.ndarray) -> np.ndarray:
  """Inverse-CDF sampling, one ray and one u at a time, in float64."""
  bins, weights, u = (np.asarray(a, np.float64) for a in (bins, weights, u))
  out = np.zeros(u.shape)
  for r in range(bins.shape[0]):
    w = weights[r] + 1e-5
    cdf = np.concatenate([[0.0], np.cumsum(w / w.sum())])
    for i, ui in enumerate(u[r]):
      ind = np.searchsorted(cdf, ui, side='right')
      lo, hi = max(ind - 1, 0), min(ind, len(cdf) - 1)
      denom = cdf[hi] - cdf[lo]
      if denom < 1e-5:
        denom = 1.0
      out[r, i] = bins[r, lo] + (ui - cdf[lo]) / denom * (bins[r, hi] - bins[r, lo])
  return out


def _random_bins(rng: np.random.Generator, num_rays: int, num_bins: int) -> np.ndarray:
  steps = rng.uniform(0.005, 0.05, size=(num_rays, num_bins))
  return (0.4 + np.cumsum(steps, -1)).astype(np.float32)


@pytest.mark.parametrize('lindisp', [False, True])
def test_coarse_z_grid_matches_closed_form(lindisp: bool):
  near = np.array([0.3, 0.5, 0.6], np.float32)
  far = np.array([0.9, 1.0, 1.2], np.float32)
  z = sampling.coarse_z(near, far, 7, lindisp=lindisp)
  t = np.arange(7) / 6.0
  n, f = near.astype(np.float64)[:, None], far.astype(np.float64)[:, None]
  want = 1.0 / ((1 - t) / n + t / f) if lindisp else n + (f - n) * t
  assert z.shape == (3, 7) and z.dtype == jnp.float32
  np.testing.assert_allclose(np.asarray(z), want, rtol=1e-6)


def test_coarse_z_broadcasts_scalar_bounds():
  z = sampling.coarse_z(0.3, jnp.full((5,), 0.9), 4, lindisp=False)
  assert z.shape == (5, 4)
  np.testing.assert_allclose(np.asarray(z), np.tile([0.3, 0.5, 0.7, 0.9], (5, 1)), rtol=1e-6)


@pytest.mark.parametrize('lindisp', [False, True])
def test_coarse_z_perturbed_stays_in_strata_with_last_at_far(lindisp: bool):
  near = np.linspace(0.3, 0.5, 200).astype(np.float32)
  far = near + 0.6
  grid = np.asarray(sampling.coarse_z(near, far, 16, lindisp=lindisp), np.float64)
  z = np.asarray(sampling.coarse_z(near, far, 16, lindisp=lindisp, key=jax.random.key(0)))
  mids = 0.5 * (grid[:, 1:] + grid[:, :-1])
  lower = np.concatenate([grid[:, :1], mids], -1)
  upper = np.concatenate([mids, grid[:, -1:]], -1)
  assert z.shape == (200, 16)
  assert np.all(z >= lower - 1e-6) and np.all(z <= upper + 1e-6)
  # The last sample is the grid's last one (far itself, up to 1/(1/far) rounding with lindisp).
  np.testing.assert_array_equal(z[:, -1], grid[:, -1])
  np.testing.assert_allclose(z[:, -1], far, rtol=1e-6)
  # Every other stratum is really resampled: the positions inside it spread over [0, 1].
  frac = (z[:, :-1] - lower[:, :-1]) / (upper[:, :-1] - lower[:, :-1])
  assert 0.4 < frac.mean() < 0.6 and frac.min() < 0.05 and frac.max() > 0.95


def test_coarse_z_keys_give_reproducible_draws():
  near, far = jnp.full((8,), 0.3), jnp.full((8,), 0.9)
  a = sampling.coarse_z(near, far, 8, lindisp=False, key=jax.random.key(1))
  b = sampling.coarse_z(near, far, 8, lindisp=False, key=jax.random.key(1))
  c = sampling.coarse_z(near, far, 8, lindisp=False, key=jax.random.key(2))
  np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert not np.allclose(np.asarray(a[:, :-1]), np.asarray(c[:, :-1]))


def test_coarse_z_rejects_a_single_sample():
  with pytest.raises(ValueError, match='num_samples'):
    sampling.coarse_z(0.3, 0.9, 1, lindisp=False)


def test_sample_pdf_deterministic_matches_reference():
  rng = np.random.default_rng(0)
  bins = _random_bins(rng, 40, 31)
  weights = rng.uniform(0, 1, size=(40, 30)) * (rng.uniform(size=(40, 30)) < 0.3)
  weights[0] = 0.0  # An empty ray: uniform pdf from the 1e-5 floor.
  # A last bin of ~zero weight makes u = 1 a jump between the last two edges, decided by the last
  # bit of cdf[-1]; float32 and float64 may land on either side, so keep that bin weighted.
  weights[1:, -1] = rng.uniform(0.1, 1.0, size=39)
  weights = weights.astype(np.float32)
  got = sampling.sample_pdf(jnp.asarray(bins), jnp.asarray(weights), 64)
  u = np.broadcast_to(np.linspace(0, 1, 64), (40, 64))
  assert got.shape == (40, 64) and got.dtype == jnp.float32
  np.testing.assert_allclose(np.asarray(got), _sample_pdf_reference(bins, weights, u),
                             rtol=1e-5, atol=1e-6)
  # u = 0 and u = 1 land on the first and last bin edge.
  np.testing.assert_allclose(np.asarray(got[:, 0]), bins[:, 0], rtol=1e-6)
  np.testing.assert_allclose(np.asarray(got[:, -1]), bins[:, -1], rtol=1e-5)
  # Same inputs, same samples.
  again = sampling.sample_pdf(jnp.asarray(bins), jnp.asarray(weights), 64)
  np.testing.assert_array_equal(np.asarray(got), np.asarray(again))


def test_sample_pdf_random_inverts_the_cdf_of_uniform_draws():
  rng = np.random.default_rng(1)
  bins = _random_bins(rng, 64, 20)
  weights = rng.uniform(0.1, 1.0, size=(64, 19)).astype(np.float32)
  got = np.asarray(sampling.sample_pdf(jnp.asarray(bins), jnp.asarray(weights), 128,
                                       key=jax.random.key(3)), np.float64)
  # Map the samples back through the piecewise-linear CDF: that must recover u ~ U(0, 1) whose
  # inversion by the reference gives the same samples.
  u = np.zeros_like(got)
  for r in range(64):
    w = weights[r].astype(np.float64) + 1e-5
    cdf = np.concatenate([[0.0], np.cumsum(w / w.sum())])
    u[r] = np.interp(got[r], bins[r].astype(np.float64), cdf)
  np.testing.assert_allclose(got, _sample_pdf_reference(bins, weights, u), rtol=1e-5, atol=1e-6)
  assert abs(u.mean() - 0.5) < 0.02 and abs(u.var() - 1 / 12) < 0.01
  assert np.any(np.diff(got, axis=-1) < 0)  # Drawn in random order, not sorted.


def test_sample_pdf_has_no_gradient():
  rng = np.random.default_rng(2)
  bins = jnp.asarray(_random_bins(rng, 4, 10))
  weights = jnp.asarray(rng.uniform(0.1, 1.0, size=(4, 9)).astype(np.float32))
  grad_w, grad_b = jax.grad(lambda w, b: jnp.sum(sampling.sample_pdf(b, w, 16)), (0, 1))(
      weights, bins)
  np.testing.assert_array_equal(np.asarray(grad_w), 0.0)
  np.testing.assert_array_equal(np.asarray(grad_b), 0.0)


def test_sample_pdf_rejects_mismatched_weights():
  with pytest.raises(AssertionError):
    sampling.sample_pdf(jnp.zeros((4, 10)), jnp.zeros((4, 10)), 8)


@pytest.mark.parametrize('perturb', [False, True])
def test_fine_z_is_sorted_union_with_last_at_far(perturb: bool):
  rng = np.random.default_rng(3)
  near, far = np.full(30, 0.4, np.float32), np.full(30, 1.0, np.float32)
  key_c, key_f = jax.random.split(jax.random.key(4)) if perturb else (None, None)
  z = sampling.coarse_z(near, far, 16, lindisp=False, key=key_c)
  weights = rng.uniform(0, 1, size=(30, 16)).astype(np.float32)
  fine = np.asarray(sampling.fine_z(z, jnp.asarray(weights), 24, key=key_f)[0])
  assert fine.shape == (30, 40)
  assert np.all(np.diff(fine, axis=-1) >= 0)
  np.testing.assert_array_equal(fine[:, -1], far)
  z = np.asarray(z)
  for r in range(30):  # Every coarse depth is kept.
    assert np.all(np.isin(z[r], fine[r]))
  if not perturb:
    mids = 0.5 * (z[:, 1:].astype(np.float64) + z[:, :-1])
    extra = _sample_pdf_reference(mids, weights[:, 1:-1], np.broadcast_to(np.linspace(0, 1, 24),
                                                                          (30, 24)))
    want = np.sort(np.concatenate([z, extra], -1), -1)
    np.testing.assert_allclose(fine, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('num_a, num_b', [(16, 16), (64, 128)])  # comparison count, binary scan
def test_merge_sorted_is_the_stable_sort_of_the_concatenation(num_a, num_b):
  rng = np.random.default_rng(5)
  a = np.sort(rng.integers(0, 40, size=(50, num_a)), -1).astype(np.float32)  # many ties
  b = np.sort(rng.integers(0, 40, size=(50, num_b)), -1).astype(np.float32)
  merged, source = sampling.merge_sorted(jnp.asarray(a), jnp.asarray(b))
  both = np.concatenate([a, b], -1)
  np.testing.assert_array_equal(merged, np.sort(both, -1))
  np.testing.assert_array_equal(source, np.argsort(both, -1, kind='stable'))


@pytest.mark.parametrize('perturb', [False, True])
def test_fine_z_source_names_the_column_of_every_depth(perturb: bool):
  rng = np.random.default_rng(6)
  key_c, key_f = jax.random.split(jax.random.key(7)) if perturb else (None, None)
  z = sampling.coarse_z(0.4, 1.0, 16, lindisp=False, key=key_c)
  z = jnp.broadcast_to(z, (30, 16))
  weights = jnp.asarray(rng.uniform(0, 1, size=(30, 16)).astype(np.float32))
  depths = sampling.fine_z(z, weights, 24, key=key_f)
  assert np.all(np.diff(np.asarray(depths.samples), axis=-1) >= 0)
  both = np.concatenate([np.asarray(z), np.asarray(depths.samples)], -1)
  np.testing.assert_array_equal(np.take_along_axis(both, np.asarray(depths.source), -1), depths.z)
  assert sorted(np.asarray(depths.source)[0].tolist()) == list(range(40))
