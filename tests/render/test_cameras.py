"""Camera utilities against a float64 NumPy derivation and a project-after-cast round trip."""

import numpy as np
from scipy.spatial.transform import Rotation

from dfrf_jax.render import cameras


def _random_pose(rng: np.random.Generator) -> np.ndarray:
  rot = Rotation.from_rotvec(rng.normal(scale=0.2, size=3)).as_matrix()
  centre = np.array([0.0, 0.0, 0.9]) + rng.normal(scale=0.05, size=3)
  return np.concatenate([rot, centre[:, None]], 1)


def test_pixel_rays_match_float64_derivation():
  rng = np.random.default_rng(0)
  c2w = _random_pose(rng)
  pixels = rng.uniform(0, 63, size=(50, 2))
  focal, cx, cy = 80.0, 31.5, 32.5
  o, d = cameras.pixel_rays(pixels, c2w.astype(np.float32), focal, cx, cy)
  cam_dirs = np.stack([(pixels[:, 1] - cx) / focal, -(pixels[:, 0] - cy) / focal,
                       -np.ones(len(pixels))], -1)
  want_d = cam_dirs @ c2w[:, :3].T
  np.testing.assert_allclose(np.asarray(d), want_d, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(np.asarray(o), np.broadcast_to(c2w[:, 3], (50, 3)), rtol=1e-6)


def test_image_rays_are_row_major():
  c2w = np.eye(4)[:3].astype(np.float32)
  o, d = cameras.image_rays(4, 6, c2w, 10.0, 3.0, 2.0)
  assert o.shape == d.shape == (4, 6, 3)
  # Pixel (row 1, col 5): x = (5 - 3)/10, y = -(1 - 2)/10.
  np.testing.assert_allclose(np.asarray(d[1, 5]), [0.2, 0.1, -1.0], rtol=1e-6)


def test_projection_round_trip_returns_the_pixel():
  rng = np.random.default_rng(1)
  height, width, focal = 64, 64, 90.0
  for _ in range(3):
    c2w = _random_pose(rng).astype(np.float32)
    pixels = rng.uniform(0, 63, size=(40, 2)).astype(np.float32)
    o, d = cameras.pixel_rays(pixels, c2w, focal, width / 2, height / 2)
    t = rng.uniform(0.5, 1.2, size=(40, 1)).astype(np.float32)
    points = o + t * d
    back = cameras.project(points, c2w, focal, height, width)
    np.testing.assert_allclose(np.asarray(back), pixels, atol=2e-3)


def test_projection_matches_float64_and_clamps():
  rng = np.random.default_rng(2)
  c2w = _random_pose(rng)
  points = rng.normal(scale=0.3, size=(30, 3))
  height, width, focal = 48, 64, 70.0
  cam = (points - c2w[:, 3]) @ c2w[:, :3]
  want = np.stack([height / 2 + focal * cam[:, 1] / cam[:, 2],
                   width / 2 - focal * cam[:, 0] / cam[:, 2]], -1)
  got = cameras.project(points.astype(np.float32), c2w.astype(np.float32), focal, height, width)
  np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-3)
  clamped = np.asarray(cameras.project_clamped(points.astype(np.float32), c2w.astype(np.float32),
                                               focal, height, width))
  np.testing.assert_allclose(clamped, np.clip(want, 0, [height - 1, width - 1]), rtol=1e-4, atol=1e-3)
  assert clamped[:, 0].max() <= height - 1 and clamped[:, 1].max() <= width - 1
