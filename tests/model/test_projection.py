"""Projection into the references and feature lookups, against float64 NumPy and PyTorch's grid_sample rules."""

import jax
import jax.numpy as jnp
import numpy as np
from jax.test_util import check_grads
from scipy.spatial.transform import Rotation

from dfrf_jax.model.projection import bilinear_sample, gather_nearest, project_to_references


def _poses(rng, n):
  rots = Rotation.from_rotvec(rng.normal(scale=0.15, size=(n, 3))).as_matrix()
  centres = np.array([0.0, 0.0, 0.9]) + rng.normal(scale=0.05, size=(n, 3))
  return np.concatenate([rots, centres[..., None]], -1)


def _bilinear_reference(fmap, pixels):
  """PyTorch grid_sample(bilinear, border, align_corners=False) at (2x+1)/size-1, written out in float64."""
  height, width, _ = fmap.shape
  out = np.zeros((len(pixels), fmap.shape[-1]))
  for i, (r, c) in enumerate(pixels):
    r = min(max(r, 0.0), height - 1.0)
    c = min(max(c, 0.0), width - 1.0)
    r0, c0 = int(np.floor(r)), int(np.floor(c))
    for rr, wr in ((r0, 1 - (r - r0)), (r0 + 1, r - r0)):
      for cc, wc in ((c0, 1 - (c - c0)), (c0 + 1, c - c0)):
        if rr < height and cc < width:
          out[i] += wr * wc * fmap[rr, cc]
  return out


def test_project_to_references_matches_float64():
  rng = np.random.default_rng(0)
  poses = _poses(rng, 3)
  points = rng.normal(scale=0.15, size=(20, 3))
  focal, height, width = 120.0, 64, 64
  got = np.asarray(project_to_references(points.astype(np.float32), poses.astype(np.float32), focal,
                                         height, width))
  assert got.shape == (3, 20, 2)
  for n in range(3):
    cam = (points - poses[n, :, 3]) @ poses[n, :, :3]
    row = height / 2 + focal * cam[:, 1] / cam[:, 2]
    col = width / 2 - focal * cam[:, 0] / cam[:, 2]
    want = np.clip(np.stack([row, col], -1), 0, [height - 1, width - 1])
    np.testing.assert_allclose(got[n], want, rtol=1e-4, atol=1e-3)


def test_bilinear_sample_matches_grid_sample_rules():
  rng = np.random.default_rng(1)
  fmap = rng.normal(size=(9, 11, 5))
  pixels = np.concatenate([rng.uniform(-2, 12, size=(40, 2)),
                           [[0, 0], [8, 10], [8, 3.5], [4.25, 10], [3, 7]]])
  got = np.asarray(bilinear_sample(fmap.astype(np.float32), pixels.astype(np.float32)))
  np.testing.assert_allclose(got, _bilinear_reference(fmap, pixels), rtol=1e-5, atol=1e-5)
  # Integer pixels sample the pixel itself.
  np.testing.assert_allclose(got[-1], fmap[3, 7], rtol=1e-6)


def test_gather_nearest():
  fmap = np.arange(4 * 5 * 2, dtype=np.float32).reshape(4, 5, 2)
  got = gather_nearest(fmap, jnp.array([[0, 0], [3, 4], [2, 1]]))
  np.testing.assert_array_equal(got, fmap[[0, 3, 2], [0, 4, 1]])


def test_bilinear_sample_gradients():
  rng = np.random.default_rng(2)
  with jax.enable_x64(True):
    fmap = jnp.asarray(rng.normal(size=(6, 7, 3)))
    # Away from pixel centres and the border, where the interpolation is smooth.
    pixels = jnp.asarray(rng.uniform(0.1, 0.9, size=(10, 2)) + rng.integers(0, 5, size=(10, 2)))
    check_grads(lambda p: bilinear_sample(fmap, p), (pixels,), order=1, modes=('rev',), eps=1e-6)
    check_grads(lambda f: bilinear_sample(f, pixels), (fmap,), order=1, modes=('rev',), eps=1e-6)
  assert jnp.zeros(()).dtype == jnp.float32


def test_bilinear_sample_gradient_is_zero_outside_the_image():
  fmap = jnp.asarray(np.random.default_rng(3).normal(size=(5, 5, 2)), jnp.float32)
  grad = jax.grad(lambda p: jnp.sum(bilinear_sample(fmap, p)))(jnp.array([[-3.0, 2.5], [2.5, 9.0]]))
  np.testing.assert_array_equal(np.asarray(grad)[0, 0], 0.0)
  np.testing.assert_array_equal(np.asarray(grad)[1, 1], 0.0)
