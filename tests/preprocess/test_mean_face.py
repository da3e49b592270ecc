"""The generic 68-point face: mirror symmetry and basic facial proportions."""

import numpy as np

from dfrf_jax.preprocess.mean_face import mean_face

# iBUG-68 index of each landmark's mirror image across the face's midline.
MIRROR = np.array(list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30]
                  + list(range(35, 30, -1)) + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
                  + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]
                  + [64, 63, 62, 61, 60, 67, 66, 65])


def test_face_is_mirror_symmetric():
  face = mean_face()
  assert face.shape == (68, 3)
  np.testing.assert_allclose(face[MIRROR] * np.array([-1.0, 1.0, 1.0]), face, atol=1e-12)


def test_proportions_in_metres():
  face = mean_face()
  eye_width = np.linalg.norm(face[45] - face[36])
  assert 0.08 < eye_width < 0.1                               # outer eye corners ~9 cm apart
  assert face[8, 1] < face[57, 1] < face[33, 1] < face[27, 1] < face[19, 1]   # chin..brows
  assert face[30, 2] == face[:, 2].max()                      # nose tip is the frontmost point
  np.testing.assert_allclose(face[:, :2].mean(0), 0.0, atol=1e-12)
