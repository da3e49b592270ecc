"""Projection of 3D samples into every reference image, and feature lookups there (vmapped over references).

Pixel coordinates are (row, col) with pixel centres at integers, as in `dfrf_jax.render.cameras`.
"""

import chex
import jax
import jax.numpy as jnp

from dfrf_jax.render import cameras


def project_to_references(points: jax.Array, ref_poses: jax.Array, focal: jax.Array | float,
                          height: int, width: int) -> jax.Array:
  """Clamped (row, col) of every point in every reference camera.

  Args:
    points: [P, 3] world units.
    ref_poses: [N, 3, 4] reference camera-to-world matrices.
    focal: focal length in pixels (shared by all references).
    height, width: reference image size in pixels.

  Returns:
    [N, P, 2] float (row, col), clamped to [0, H-1] x [0, W-1] (the authors' `make_indices`).
  """
  chex.assert_shape(points, (None, 3))
  chex.assert_shape(ref_poses, (None, 3, 4))
  return jax.vmap(cameras.project_clamped, in_axes=(None, 0, None, None, None))(
      points, ref_poses, focal, height, width)


def gather_nearest(feature_map: jax.Array, pixels: jax.Array) -> jax.Array:
  """Features at integer pixels.

  Args:
    feature_map: [H, W, C].
    pixels: [P, 2] integer (row, col), inside the image.

  Returns:
    [P, C].
  """
  return feature_map[pixels[:, 0], pixels[:, 1]]


def bilinear_sample(feature_map: jax.Array, pixels: jax.Array) -> jax.Array:
  """Bilinear interpolation of a feature map at float pixel positions, edge-clamped.

  Equals PyTorch's grid_sample(mode='bilinear', padding_mode='border', align_corners=False) at the
  normalised coordinate (2x + 1) / size - 1, i.e. pixel k is sampled exactly at coordinate k.
  Differentiable with respect to `pixels` (through the interpolation weights) and `feature_map`.

  Args:
    feature_map: [H, W, C].
    pixels: [P, 2] float (row, col).

  Returns:
    [P, C].
  """
  height, width = feature_map.shape[:2]
  row = jnp.clip(pixels[:, 0], 0.0, height - 1.0)
  col = jnp.clip(pixels[:, 1], 0.0, width - 1.0)
  r0 = jnp.floor(row)
  c0 = jnp.floor(col)
  wr = (row - r0)[:, None]
  wc = (col - c0)[:, None]
  r0 = r0.astype(jnp.int32)
  c0 = c0.astype(jnp.int32)
  r1 = jnp.minimum(r0 + 1, height - 1)
  c1 = jnp.minimum(c0 + 1, width - 1)
  top = feature_map[r0, c0] * (1 - wc) + feature_map[r0, c1] * wc
  bottom = feature_map[r1, c0] * (1 - wc) + feature_map[r1, c1] * wc
  return top * (1 - wr) + bottom * wr
