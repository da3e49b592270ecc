"""Tests of the exact ray caster: geometry, colours and labels against a float64 derivation."""

import numpy as np
import pytest

from dfrf_jax.data import synthetic_scene as scene

SIZE = 40


def _person(seed: int = 0) -> tuple[scene.Identity, scene.Motion]:
  rng = np.random.default_rng(seed)
  return scene.sample_identity(rng), scene.sample_motion(rng)


def _c2w(identity: scene.Identity, motion: scene.Motion, time: float = 0.7) -> np.ndarray:
  return scene.camera_to_world(scene.head_poses(identity, motion, np.array([time])))[0]


def _rays64(c2w: np.ndarray, camera: scene.Camera) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Float64 rays derived here: (origin [3], head-frame dirs [P, 3], camera-space dirs [P, 3])."""
  rows, cols = np.meshgrid(np.arange(camera.height), np.arange(camera.width), indexing='ij')
  d_cam = np.stack([(cols - camera.cx) / camera.focal, -(rows - camera.cy) / camera.focal,
                    -np.ones(rows.shape)], -1).reshape(-1, 3)
  return c2w[:, 3], d_cam @ c2w[:, :3].T, d_cam


def _ellipsoid_entry(origin, dirs, centre, radii):
  """Closed-form entry parameter and discriminant of rays into an axis-aligned ellipsoid."""
  o = (origin - centre) / radii
  d = dirs / radii
  a, b, c = np.sum(d * d, -1), np.sum(o * d, -1), np.sum(o * o) - 1.0
  disc = b * b - a * c
  return (-b - np.sqrt(np.maximum(disc, 0.0))) / a, disc


def _lambert(albedo, normals):
  light = np.array(scene.LIGHT) / np.linalg.norm(scene.LIGHT)
  return np.clip(albedo * (scene.AMBIENT + scene.DIFFUSE * np.maximum(normals @ light, 0))[:, None],
                 0.0, 1.0)


@pytest.fixture(scope='module')
def rendered():
  identity, motion = _person()
  camera = scene.default_camera(SIZE)
  c2w = _c2w(identity, motion)
  return identity, camera, c2w, scene.render_frame(identity, c2w, 0.6, camera)


def test_frame_shapes_and_label_range(rendered):
  _, camera, _, frame = rendered
  assert frame.rgb.shape == frame.torso_rgb.shape == (SIZE, SIZE, 3)
  assert frame.label.shape == frame.depth.shape == frame.torso_label.shape == (SIZE, SIZE)
  assert frame.label.dtype == np.int32 and frame.rgb.dtype == np.float64
  assert frame.rgb.min() >= 0.0 and frame.rgb.max() <= 1.0
  assert set(np.unique(frame.label)) >= {scene.BACKGROUND, scene.TORSO, scene.NECK, scene.SKIN,
                                        scene.HAIR, scene.NOSE, scene.EYE, scene.LIPS, scene.MOUTH}
  assert camera.focal == pytest.approx(1300.0 * SIZE / 512)


def test_skull_pixels_lie_exactly_on_the_skull_ellipsoid(rendered):
  identity, camera, c2w, frame = rendered
  origin, dirs, _ = _rays64(c2w, camera)
  radii = np.array(identity.skull_radii)
  t, disc = _ellipsoid_entry(origin, dirs, np.zeros(3), radii)
  on_skull = np.isin(frame.label.ravel(), (scene.SKIN, scene.LIPS, scene.MOUTH))
  assert on_skull.sum() > 100
  assert np.all(disc[on_skull] > 0)
  np.testing.assert_allclose(frame.depth.ravel()[on_skull], t[on_skull], rtol=1e-5)
  # Nothing behind the skull can be seen: every ray that meets it stops there or earlier.
  hits = disc > 1e-3 * np.max(disc)
  assert np.all(frame.depth.ravel()[hits] <= t[hits] * (1 + 1e-5))
  # Colour of plain skin: the albedo at the hit, lit by the Lambert model derived here.
  skin = frame.label.ravel() == scene.SKIN
  points = origin + t[skin, None] * dirs[skin]
  normals = points / radii**2
  normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
  expected = _lambert(scene.skin_albedo(identity, points), normals)
  np.testing.assert_allclose(frame.rgb.reshape(-1, 3)[skin], expected, atol=1e-4)


def test_background_pixels_lie_on_the_plate(rendered):
  identity, camera, c2w, frame = rendered
  _, dirs, d_cam = _rays64(c2w, camera)
  depth = scene.plate_depth(identity)
  # Above the camera axis and outside a sphere around the head, only the plate can be seen.
  t_sphere, disc = _ellipsoid_entry(c2w[:, 3], dirs, np.zeros(3), np.full(3, 0.16))
  clear = (d_cam[:, 1] > 0) & (disc < 0)
  assert clear.sum() > 50
  np.testing.assert_array_equal(frame.label.ravel()[clear], scene.BACKGROUND)
  background = frame.label.ravel() == scene.BACKGROUND
  # The studio ray of a pixel is its camera-space direction, so the plate is met at t = depth.
  np.testing.assert_allclose(frame.depth.ravel()[background], depth, rtol=1e-6)
  expected = scene.plate_albedo(identity, depth * d_cam[background, :2])
  np.testing.assert_allclose(frame.rgb.reshape(-1, 3)[background], expected, atol=1e-5)
  np.testing.assert_allclose(scene.render_plate(identity, camera).reshape(-1, 3),
                             scene.plate_albedo(identity, depth * d_cam[:, :2]), atol=1e-5)


def test_torso_image_is_the_frame_without_the_head(rendered):
  _, _, _, frame = rendered
  head = frame.label >= scene.FIRST_HEAD_LABEL
  assert head.any() and (~head).any()
  assert np.all(frame.torso_label < scene.FIRST_HEAD_LABEL)
  np.testing.assert_array_equal(frame.torso_rgb[~head], frame.rgb[~head])
  np.testing.assert_array_equal(frame.torso_label[~head], frame.label[~head])
  np.testing.assert_array_equal(frame.torso_depth[~head], frame.depth[~head])
  assert np.all(frame.torso_depth[head] > frame.depth[head])


def test_mouth_grows_with_the_opening_around_its_projected_centre():
  identity, motion = _person(1)
  camera = scene.default_camera(64)
  c2w = _c2w(identity, motion, 0.0)
  counts = [np.sum(scene.render_frame(identity, c2w, o, camera).label == scene.MOUTH)
            for o in (0.0, 0.25, 0.5, 0.75, 1.0)]
  assert all(a < b for a, b in zip(counts, counts[1:])), counts
  # The mouth centre, projected here with the pinhole model, is a mouth pixel when open.
  latitude = identity.mouth[0]
  centre = np.array([0.0, np.sin(latitude), np.cos(latitude)]) * np.array(identity.skull_radii)
  x, y, z = (centre - c2w[:, 3]) @ c2w[:, :3]
  row, col = camera.cy + camera.focal * y / z, camera.cx - camera.focal * x / z
  label = scene.render_frame(identity, c2w, 1.0, camera).label
  assert label[int(round(row)), int(round(col))] == scene.MOUTH
  # The lip outline lies on the skull, around the mouth centre.
  outline = scene.lip_outline(identity, 1.0)
  q = outline / np.array(identity.skull_radii)
  np.testing.assert_allclose(np.sum(q**2, -1), 1.0, atol=1e-12)
  np.testing.assert_allclose(outline[:, 0].mean(), 0.0, atol=1e-12)
  assert outline[:, 1].min() < centre[1] < outline[:, 1].max()


def test_poses_are_rigid_inverses_with_the_tracker_euler_order():
  identity, motion = _person(2)
  head = scene.head_poses(identity, motion, np.linspace(0, 3, 7))
  c2w = scene.camera_to_world(head)
  for h, c in zip(head, c2w):
    np.testing.assert_allclose(c[:, :3].T @ c[:, :3], np.eye(3), atol=1e-12)
    assert np.linalg.det(c[:, :3]) == pytest.approx(1.0)
    point = np.array([0.03, -0.02, 0.05])
    studio = h[:, :3] @ point + h[:, 3]
    np.testing.assert_allclose(c[:, :3] @ studio + c[:, 3], point, atol=1e-12)
  a, b, g = 0.1, -0.2, 0.3
  rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
  ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
  rz = np.array([[np.cos(g), -np.sin(g), 0], [np.sin(g), np.cos(g), 0], [0, 0, 1]])
  np.testing.assert_allclose(scene.euler_to_rotation(np.array([a, b, g])), rx @ ry @ rz, atol=1e-15)
  # The jitter is small and smooth: a few degrees, around the identity's framing.
  cos_angle = (np.trace(head[:, :, :3], axis1=1, axis2=2) - 1) / 2
  angles = np.degrees(np.arccos(np.clip(cos_angle, -1, 1)))
  assert angles.max() < 12.0
  np.testing.assert_allclose(head[:, :, 3].mean(0), [0.0, identity.height, -identity.distance],
                             atol=0.02)


def test_rendering_is_deterministic_and_identities_differ():
  camera = scene.default_camera(24)
  identity, motion = _person(3)
  c2w = _c2w(identity, motion)
  a = scene.render_frame(identity, c2w, 0.3, camera)
  b = scene.render_frame(*_person(3)[:1], c2w, 0.3, camera)
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x, y)
  other = scene.render_frame(_person(4)[0], c2w, 0.3, camera)
  assert np.abs(other.rgb - a.rgb).mean() > 0.02
  assert _person(3)[0] != _person(4)[0]


def test_bad_inputs_raise():
  identity, motion = _person()
  camera = scene.default_camera(16)
  with pytest.raises(ValueError, match='opening'):
    scene.render_frame(identity, _c2w(identity, motion), 1.5, camera)
  with pytest.raises(ValueError, match=r'c2w must be \[3, 4\]'):
    scene.render_frame(identity, np.eye(4), 0.0, camera)
  with pytest.raises(ValueError, match='image_size'):
    scene.default_camera(4)
