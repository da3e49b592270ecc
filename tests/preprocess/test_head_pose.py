"""Rotations, the inverse-pose camera and recovery of known poses by the bundle adjustment."""

import numpy as np
from scipy.spatial import transform

from dfrf_jax.config import default_config
from dfrf_jax.preprocess import head_pose
from dfrf_jax.preprocess.mean_face import mean_face


def test_rodrigues_matches_scipy_in_float64():
  rotvecs = np.random.default_rng(0).normal(scale=0.5, size=(20, 3))
  rotvecs[0] = 0.0
  rotvecs[1] = [1e-5, 0.0, 0.0]
  got = np.asarray(head_pose.rotation_matrices(rotvecs.astype(np.float32)))
  np.testing.assert_allclose(got, transform.Rotation.from_rotvec(rotvecs).as_matrix(), atol=1e-5)


def _synthetic_track(num_frames: int, focal: float, size: int):
  t = np.arange(num_frames) / 25.0
  rotvecs = np.stack([0.1 * np.sin(2 * t), 0.2 * np.sin(3 * t), 0.05 * np.cos(t)], 1)
  trans = np.stack([0.01 * np.sin(t), -0.01 * t, -0.8 + 0.02 * np.cos(2 * t)], 1)
  rot = transform.Rotation.from_rotvec(rotvecs).as_matrix()
  cam = np.einsum('kij,pj->kpi', rot, mean_face()) + trans[:, None]
  x = size / 2 - focal * cam[..., 0] / cam[..., 2]
  y = size / 2 + focal * cam[..., 1] / cam[..., 2]
  return rot, trans, np.stack([x, y], -1)


def test_projection_matches_a_float64_pinhole():
  rot, trans, lms = _synthetic_track(5, 300.0, 256)
  got = head_pose.project_shape(mean_face().astype(np.float32), rot.astype(np.float32),
                                trans.astype(np.float32), 300.0, 256, 256)
  np.testing.assert_allclose(np.asarray(got), lms, atol=1e-2)


def test_camera_is_the_inverse_head_pose():
  rot, trans, _ = _synthetic_track(4, 300.0, 256)
  poses = head_pose.HeadPoses(rotations=rot, translations=trans, focal=300.0,
                              shape=mean_face(), projections=np.zeros((4, 68, 2)))
  head = np.tile(np.eye(4), (4, 1, 1))
  head[:, :3, :3], head[:, :3, 3] = rot, trans
  np.testing.assert_allclose(poses.camera_to_world() @ head, np.tile(np.eye(4), (4, 1, 1)),
                             atol=1e-12)


def test_bundle_adjustment_recovers_known_poses():
  size = 256
  true_focal = 1300.0 * size / 512
  rot, trans, lms = _synthetic_track(30, true_focal, size)
  config = default_config().preprocess
  config.focal_lengths = (1300.0,)
  poses = head_pose.fit_head_poses(lms.astype(np.float32), size, size, config)
  assert poses.focal == true_focal
  assert poses.reprojection_errors(lms).mean() < 0.5
  relative = transform.Rotation.from_matrix(poses.rotations) * transform.Rotation.from_matrix(rot).inv()
  assert np.degrees(relative.magnitude()).max() < 1.0
  np.testing.assert_allclose(poses.translations, trans, atol=0.005)
