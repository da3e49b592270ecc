"""Pinhole cameras in the authors' convention.

Cameras are OpenGL-style: a camera looks down its -z axis, x points right, y up. Poses are
camera-to-world matrices `c2w: [3, 4]` = [R | c]. Pixels are addressed as (row, col) with pixel
centres at integer coordinates; the column runs along image x, the row down along -y.

A ray through pixel (row j, col i) has the unnormalised direction R @ ((i - cx)/f, -(j - cy)/f, -1), so
the point o + t * d lies at camera depth t (the near/far bounds are depths, not distances).
"""

import chex
import jax.numpy as jnp


def pixel_rays(pixels: jnp.ndarray, c2w: jnp.ndarray, focal: float, cx: float,
               cy: float) -> tuple[jnp.ndarray, jnp.ndarray]:
  """Rays through given pixels.

  Args:
    pixels: [..., 2] (row, col) pixel coordinates (integers or floats).
    c2w: [3, 4] camera-to-world pose.
    focal: focal length in pixels.
    cx, cy: principal point in pixels (column, row).

  Returns:
    rays_o: [..., 3] world units, the camera centre.
    rays_d: [..., 3] world units per unit depth, not normalised.
  """
  chex.assert_shape(c2w, (3, 4))
  chex.assert_axis_dimension(pixels, -1, 2)
  pixels = jnp.asarray(pixels, jnp.float32)
  row, col = pixels[..., 0], pixels[..., 1]
  dirs = jnp.stack([(col - cx) / focal, -(row - cy) / focal, -jnp.ones_like(col)], -1)
  # Same summation order as the authors: sum over the last axis of dirs * R.
  rays_d = jnp.sum(dirs[..., None, :] * c2w[:3, :3], -1)
  rays_o = jnp.broadcast_to(c2w[:3, 3], rays_d.shape)
  return rays_o, rays_d


def image_pixels(height: int, width: int) -> jnp.ndarray:
  """All (row, col) pixel coordinates of an image, [H, W, 2] float32, row-major."""
  rows, cols = jnp.meshgrid(jnp.arange(height, dtype=jnp.float32),
                            jnp.arange(width, dtype=jnp.float32), indexing='ij')
  return jnp.stack([rows, cols], -1)


def image_rays(height: int, width: int, c2w: jnp.ndarray, focal: float, cx: float,
               cy: float) -> tuple[jnp.ndarray, jnp.ndarray]:
  """Rays of every pixel of an image: ([H, W, 3], [H, W, 3]); see `pixel_rays`."""
  return pixel_rays(image_pixels(height, width), c2w, focal, cx, cy)


def world_to_camera(points: jnp.ndarray, c2w: jnp.ndarray) -> jnp.ndarray:
  """Camera-space coordinates of world points: [..., 3] -> [..., 3] (z < 0 in front)."""
  chex.assert_shape(c2w, (3, 4))
  rot, centre = c2w[:3, :3], c2w[:3, 3]
  return (points - centre) @ rot


def project(points: jnp.ndarray, c2w: jnp.ndarray, focal: float, height: int,
            width: int) -> jnp.ndarray:
  """Projects world points into one camera, as the authors' `make_indices` (before clamping).

  The principal point is (W/2, H/2), as the authors build their projection intrinsic (their ray
  generation uses the JSON's cx, cy instead; the two agree on their data).

  Args:
    points: [P, 3] world units.
    c2w: [3, 4] camera-to-world pose of the camera projected into.
    focal: focal length in pixels.
    height, width: image size in pixels.

  Returns:
    [P, 2] float (row, col) pixel coordinates, unclamped. Points behind the camera are not flagged.
  """
  cam = world_to_camera(points, c2w)
  x, y, z = cam[..., 0], cam[..., 1], cam[..., 2]
  row = height / 2 + focal * y / z
  col = width / 2 - focal * x / z
  return jnp.stack([row, col], -1)


def project_clamped(points: jnp.ndarray, c2w: jnp.ndarray, focal: float, height: int,
                    width: int) -> jnp.ndarray:
  """`project`, clamped to [0, H-1] x [0, W-1] as the authors do: [P, 2] (row, col)."""
  rc = project(points, c2w, focal, height, width)
  return jnp.clip(rc, 0.0, jnp.array([height - 1.0, width - 1.0], rc.dtype))
