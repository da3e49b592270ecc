"""Volume compositing against a per-ray float64 NumPy loop, closed forms and numerical gradients."""

import jax
import jax.numpy as jnp
from jax import test_util
import numpy as np
import pytest

from dfrf_jax.render import compositing


def _composite_reference(raw: np.ndarray, z: np.ndarray, rays_d: np.ndarray, bg_rgb: np.ndarray,
                         white_bkgd: bool) -> dict[str, np.ndarray]:
  """Front-to-back compositing, one ray and one sample at a time, in float64."""
  raw, z, rays_d, bg_rgb = (np.asarray(a, np.float64) for a in (raw, z, rays_d, bg_rgb))
  num_rays, num_samples = z.shape
  out = {k: np.zeros(num_rays) for k in ('disp', 'acc', 'depth', 'last_weight')}
  out['rgb'] = np.zeros((num_rays, 3))
  out['weights'] = np.zeros((num_rays, num_samples))
  for r in range(num_rays):
    trans = 1.0
    norm = np.sqrt(np.sum(rays_d[r] ** 2))
    for k in range(num_samples):
      delta = (z[r, k + 1] - z[r, k] if k + 1 < num_samples else 1e10) * norm
      alpha = 1.0 - np.exp(-(max(raw[r, k, 3], 0.0) + 1e-6) * delta)
      colour = bg_rgb[r] if k == num_samples - 1 else 1.0 / (1.0 + np.exp(-raw[r, k, :3]))
      w = alpha * trans
      out['weights'][r, k] = w
      out['rgb'][r] += w * colour
      out['depth'][r] += w * z[r, k]
      out['acc'][r] += w
      trans *= 1.0 - alpha + 1e-10
    out['disp'][r] = 1.0 / max(1e-10, out['depth'][r] / out['acc'][r])
    out['last_weight'][r] = out['weights'][r, -1]
    if white_bkgd:
      out['rgb'][r] += 1.0 - out['acc'][r]
  out['depth_grid'] = out['weights'] * z
  return out


def _random_inputs(rng: np.random.Generator, num_rays: int, num_samples: int,
                   dtype=np.float32) -> tuple[np.ndarray, ...]:
  raw = rng.normal(scale=2.0, size=(num_rays, num_samples, 4))
  z = np.sort(rng.uniform(0.3, 0.9, size=(num_rays, num_samples)), -1)
  z[:, -1] = 0.9
  rays_d = rng.normal(size=(num_rays, 3)) * 0.5 + np.array([0.0, 0.0, -1.0])
  bg_rgb = rng.uniform(size=(num_rays, 3))
  return tuple(a.astype(dtype) for a in (raw, z, rays_d, bg_rgb))


@pytest.mark.parametrize('white_bkgd', [False, True])
def test_composite_matches_reference(white_bkgd: bool):
  raw, z, rays_d, bg_rgb = _random_inputs(np.random.default_rng(0), 24, 12)
  raw[:4, :, 3] = -3.0  # Empty rays: everything comes from the background sample.
  got = compositing.composite(raw, z, rays_d, bg_rgb, white_bkgd=white_bkgd)
  want = _composite_reference(raw, z, rays_d, bg_rgb, white_bkgd)
  shapes = {'rgb': (24, 3), 'disp': (24,), 'acc': (24,), 'weights': (24, 12), 'depth': (24,),
            'depth_grid': (24, 12), 'last_weight': (24,)}
  for name, shape in shapes.items():
    value = getattr(got, name)
    assert value.shape == shape and value.dtype == jnp.float32, name
    np.testing.assert_allclose(np.asarray(value), want[name], rtol=1e-5, atol=1e-6, err_msg=name)
  # An empty ray renders its background pixel and is fully opaque at far.
  np.testing.assert_allclose(np.asarray(got.rgb[:4]), bg_rgb[:4], rtol=1e-5)
  np.testing.assert_allclose(np.asarray(got.acc[:4]), 1.0, rtol=1e-6)
  np.testing.assert_allclose(np.asarray(got.depth[:4]), 0.9, rtol=1e-5)


def test_composite_under_jit_equals_eager():
  raw, z, rays_d, bg_rgb = _random_inputs(np.random.default_rng(1), 8, 6)
  fn = jax.jit(lambda *a: compositing.composite(*a, white_bkgd=True))
  jitted, eager = fn(raw, z, rays_d, bg_rgb), compositing.composite(raw, z, rays_d, bg_rgb,
                                                                    white_bkgd=True)
  for a, b in zip(jax.tree.leaves(jitted), jax.tree.leaves(eager)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)


def test_composite_density_noise_is_keyed():
  raw, z, rays_d, bg_rgb = _random_inputs(np.random.default_rng(2), 8, 6)
  key = jax.random.key(5)
  noisy = compositing.composite(raw, z, rays_d, bg_rgb, white_bkgd=False, raw_noise_std=1.0,
                                key=key)
  again = compositing.composite(raw, z, rays_d, bg_rgb, white_bkgd=False, raw_noise_std=1.0,
                                key=key)
  clean = compositing.composite(raw, z, rays_d, bg_rgb, white_bkgd=False)
  np.testing.assert_array_equal(np.asarray(noisy.weights), np.asarray(again.weights))
  assert not np.allclose(np.asarray(noisy.weights), np.asarray(clean.weights))
  # The noise is a standard normal draw of the density's shape, scaled by raw_noise_std.
  shifted = raw.copy()
  shifted[..., 3] += np.asarray(jax.random.normal(key, raw.shape[:2]))
  want = _composite_reference(shifted, z, rays_d, bg_rgb, white_bkgd=False)
  np.testing.assert_allclose(np.asarray(noisy.weights), want['weights'], rtol=1e-5, atol=1e-6)


def test_composite_noise_without_key_raises():
  raw, z, rays_d, bg_rgb = _random_inputs(np.random.default_rng(3), 2, 4)
  with pytest.raises(ValueError, match='key'):
    compositing.composite(raw, z, rays_d, bg_rgb, white_bkgd=False, raw_noise_std=1.0)


def test_composite_rejects_mismatched_shapes():
  raw, z, rays_d, bg_rgb = _random_inputs(np.random.default_rng(4), 3, 5)
  with pytest.raises(AssertionError):
    compositing.composite(raw[:, :4], z, rays_d, bg_rgb, white_bkgd=False)


def test_composite_gradient_wrt_raw_matches_finite_differences():
  with jax.enable_x64(True):
    rng = np.random.default_rng(6)
    raw, z, rays_d, bg_rgb = _random_inputs(rng, 5, 8, dtype=np.float64)
    # Keep densities away from the ReLU kink, where finite differences are meaningless.
    raw[..., 3] = np.sign(raw[..., 3]) * (np.abs(raw[..., 3]) + 0.5)

    def outputs(raw_in: jax.Array) -> tuple[jax.Array, ...]:
      out = compositing.composite(raw_in, jnp.asarray(z), jnp.asarray(rays_d),
                                  jnp.asarray(bg_rgb), white_bkgd=True)
      return out.rgb, out.disp, out.acc, out.depth, out.weights

    raw = jnp.asarray(raw)
    assert raw.dtype == jnp.float64
    test_util.check_grads(outputs, (raw,), order=1, modes=['rev'], eps=1e-6)
  assert jnp.zeros(1).dtype == jnp.float32


def test_revived_density_has_relu_values_and_the_identity_gradient():
  sigma = jnp.asarray(np.random.default_rng(6).normal(scale=2.0, size=(5, 7)), jnp.float32)
  cotangent = jnp.asarray(np.random.default_rng(7).normal(size=(5, 7)), jnp.float32)
  fn = jax.jit(lambda s, flag: compositing.density(s, flag))
  for flag in (False, True):
    np.testing.assert_array_equal(np.asarray(fn(sigma, flag)), np.asarray(jax.nn.relu(sigma)))
  grad = jax.jit(jax.grad(lambda s, flag: jnp.sum(cotangent * compositing.density(s, flag))))
  np.testing.assert_array_equal(np.asarray(grad(sigma, True)), np.asarray(cotangent))
  np.testing.assert_array_equal(np.asarray(grad(sigma, False)),
                                np.asarray(cotangent * (sigma > 0)))


def test_revived_composite_passes_the_gradient_at_zero_density():
  """A pass whose every density logit is negative renders the background; revived, the gradient of
  its colour with respect to each logit is the float64 reference's one-sided derivative at 0."""
  raw, z, rays_d, bg_rgb = _random_inputs(np.random.default_rng(8), 4, 6)
  raw[..., 3] = -np.abs(raw[..., 3]) - 0.5
  cotangent = np.random.default_rng(9).normal(size=(4, 3))

  def loss(raw_in, revive):
    out = compositing.composite(raw_in, jnp.asarray(z), jnp.asarray(rays_d), jnp.asarray(bg_rgb),
                                white_bkgd=False, revival=lambda sigma: revive)
    return jnp.sum(out.rgb * cotangent)

  plain = compositing.composite(jnp.asarray(raw), z, rays_d, bg_rgb, white_bkgd=False)
  revived = compositing.composite(jnp.asarray(raw), z, rays_d, bg_rgb, white_bkgd=False,
                                  revival=lambda sigma: jnp.all(sigma < 0))
  np.testing.assert_array_equal(np.asarray(plain.rgb), np.asarray(revived.rgb))
  assert not np.any(np.asarray(jax.grad(loss)(jnp.asarray(raw), False))[..., 3])
  got = np.asarray(jax.grad(loss)(jnp.asarray(raw), True))[..., 3]

  at_zero = raw.astype(np.float64)
  at_zero[..., 3] = 0.0
  h = 1e-5
  base = np.sum(_composite_reference(at_zero, z, rays_d, bg_rgb, False)['rgb'] * cotangent)
  want = np.zeros(raw.shape[:2])
  for r, k in np.ndindex(*want.shape):
    moved = at_zero.copy()
    moved[r, k, 3] = h
    want[r, k] = (np.sum(_composite_reference(moved, z, rays_d, bg_rgb, False)['rgb'] * cotangent)
                  - base) / h
  assert np.abs(want).max() > 1e-2  # the check has something to find
  np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


def test_revival_rule_sees_the_noisy_densities():
  raw, z, rays_d, bg_rgb = _random_inputs(np.random.default_rng(10), 3, 5)
  key, seen = jax.random.key(11), []

  def rule(sigma):
    seen.append(np.asarray(sigma))
    return jnp.asarray(False)

  compositing.composite(raw, z, rays_d, bg_rgb, white_bkgd=False, raw_noise_std=0.5, key=key,
                        revival=rule)
  want = raw[..., 3] + 0.5 * np.asarray(jax.random.normal(key, raw.shape[:2]))
  np.testing.assert_allclose(seen[0], want, rtol=1e-6, atol=1e-6)
