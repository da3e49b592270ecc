"""Head pose per frame and one focal length from 2D landmarks: a small bundle adjustment in JAX.

Model: frame k sees the per-video landmark shape S = mean_face + delta ([68, 3] metres, head frame)
through the rigid head pose p_cam = R_k S + t_k and the pinhole camera of `dfrf_jax.render.cameras`
(OpenGL: looks down -z, principal point at the image centre, focal f in pixels). All frames are fitted
at once with Adam on

  mean_k,i w_i |proj_k,i - lms_k,i|^2                        reprojection, pixels^2
  + smoothness * mean_k |proj_k+1 - 2 proj_k + proj_k-1|^2   temporal acceleration of the projections
  + shape_prior * mean_i |delta_i * f / depth|^2             shape change, in pixels at the mean depth

where w_i down-weights the landmarks that move with speech (jaw contour 0.5, lips 0.3), since a rigid
shape cannot follow them. The fit is run for each candidate focal length (as the authors' tracker
searches f); the one with the lowest reprojection error wins. The dataset camera is the inverse head
pose, so the NeRF world is the head frame in metres (the authors' step 7).
"""

import dataclasses
import functools

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from dfrf_jax.preprocess.mean_face import mean_face
from dfrf_jax.render import cameras

# Parameters are optimised in units that make one Adam step comparable for all of them.
_TRANS_UNIT = 0.1   # translations in decimetres
_SHAPE_UNIT = 0.01  # shape offsets in centimetres
_LEARNING_RATE = 0.1  # Adam, decayed 100-fold over the steps


@dataclasses.dataclass(frozen=True)
class HeadPoses:
  """The fitted head track.

  Attributes:
    rotations: [T, 3, 3] head-to-camera rotations R_k.
    translations: [T, 3] head-to-camera translations t_k, metres (t_z < 0: in front).
    focal: focal length in pixels.
    shape: [68, 3] per-video landmark shape in the head frame, metres.
    projections: [T, 68, 2] (x, y) pixel projections of `shape` under each pose.
  """
  rotations: np.ndarray
  translations: np.ndarray
  focal: float
  shape: np.ndarray
  projections: np.ndarray

  def reprojection_errors(self, landmarks: np.ndarray) -> np.ndarray:
    """Euclidean pixel distance of every projection to its landmark: [T, 68]."""
    return np.linalg.norm(self.projections - landmarks, axis=-1)

  def camera_to_world(self) -> np.ndarray:
    """Dataset cameras, the inverse head poses [[R^T, -R^T t], [0, 0, 0, 1]]: [T, 4, 4]."""
    rot_t = np.swapaxes(self.rotations, 1, 2)
    c2w = np.tile(np.eye(4), (len(rot_t), 1, 1))
    c2w[:, :3, :3] = rot_t
    c2w[:, :3, 3] = -np.einsum('kij,kj->ki', rot_t, self.translations)
    return c2w


def landmark_weights() -> np.ndarray:
  """[68] weights of the reprojection term (see the module docstring)."""
  weights = np.ones(68)
  weights[:17] = 0.5
  weights[48:] = 0.3
  return weights


def rotation_matrices(rotvecs: jnp.ndarray) -> jnp.ndarray:
  """Rodrigues' formula: axis-angle [..., 3] radians -> [..., 3, 3] rotations (smooth at zero)."""
  theta2 = jnp.sum(rotvecs ** 2, -1)[..., None, None]
  theta = jnp.sqrt(theta2 + 1e-12)
  x, y, z = rotvecs[..., 0], rotvecs[..., 1], rotvecs[..., 2]
  zero = jnp.zeros_like(x)
  cross = jnp.stack([jnp.stack([zero, -z, y], -1), jnp.stack([z, zero, -x], -1),
                     jnp.stack([-y, x, zero], -1)], -2)
  # sin(t)/t and (1 - cos(t))/t^2, with their Taylor series near zero.
  small = theta2 < 1e-6
  a = jnp.where(small, 1.0 - theta2 / 6.0, jnp.sin(theta) / theta)
  b = jnp.where(small, 0.5 - theta2 / 24.0, (1.0 - jnp.cos(theta)) / (theta2 + 1e-12))
  return jnp.eye(3) + a * cross + b * cross @ cross


def project_shape(shape: jnp.ndarray, rotations: jnp.ndarray, translations: jnp.ndarray,
                  focal: jnp.ndarray, height: int, width: int) -> jnp.ndarray:
  """Projects the head-frame shape under each head pose with `cameras.project`.

  Args:
    shape: [P, 3] metres, head frame.
    rotations: [T, 3, 3] head-to-camera rotations.
    translations: [T, 3] metres.
    focal: focal length in pixels.
    height, width: image size in pixels.

  Returns:
    [T, P, 2] (x, y) = (column, row) pixels.
  """
  rot_t = jnp.swapaxes(rotations, 1, 2)
  c2w = jnp.concatenate([rot_t, -jnp.einsum('kij,kj->ki', rot_t, translations)[..., None]], -1)
  row_col = jax.vmap(lambda pose: cameras.project(shape, pose, focal, height, width))(c2w)
  return row_col[..., ::-1]


def _initial_translations(landmarks: np.ndarray, face: np.ndarray, focal: float, height: int,
                          width: int) -> np.ndarray:
  """Frontal-face guess: depth from the landmark spread, x/y from the landmark centroid."""
  spread_px = np.linalg.norm(landmarks - landmarks.mean(1, keepdims=True), axis=-1).mean(1)
  spread_m = np.linalg.norm(face[:, :2] - face[:, :2].mean(0), axis=-1).mean()
  depth = focal * spread_m / spread_px
  centroid = landmarks.mean(1)
  tx = (centroid[:, 0] - width / 2) * depth / focal
  ty = -(centroid[:, 1] - height / 2) * depth / focal
  return np.stack([tx, ty, -depth - face[:, 2].mean()], 1)


@functools.partial(jax.jit, static_argnames=('height', 'width', 'steps'))
def _fit(landmarks: jnp.ndarray, init_trans: jnp.ndarray, focal: jnp.ndarray, smoothness: float,
         shape_prior: float, *, height: int, width: int,
         steps: int) -> tuple[dict[str, jnp.ndarray], jnp.ndarray]:
  """Adam on all frames at once; returns the parameters and the final reprojection term."""
  face = jnp.asarray(mean_face(), jnp.float32)
  weights = jnp.asarray(landmark_weights(), jnp.float32)
  num_frames = landmarks.shape[0]
  params = {'rotvec': jnp.zeros((num_frames, 3)), 'trans': jnp.zeros((num_frames, 3)),
            'delta': jnp.zeros_like(face)}
  depth = jax.lax.stop_gradient(-jnp.mean(init_trans[:, 2]))

  def unpack(p):
    return (face + _SHAPE_UNIT * p['delta'], rotation_matrices(p['rotvec']),
            init_trans + _TRANS_UNIT * p['trans'])

  def loss_fn(p):
    shape, rot, trans = unpack(p)
    proj = project_shape(shape, rot, trans, focal, height, width)
    reproj = jnp.sum(weights * jnp.sum((proj - landmarks) ** 2, -1)) / (num_frames * jnp.sum(weights))
    accel = proj[2:] - 2.0 * proj[1:-1] + proj[:-2]
    smooth = jnp.mean(jnp.sum(accel ** 2, -1)) if num_frames > 2 else 0.0
    prior = jnp.mean(jnp.sum((_SHAPE_UNIT * p['delta'] * focal / depth) ** 2, -1))
    return reproj + smoothness * smooth + shape_prior * prior, reproj

  schedule = optax.exponential_decay(_LEARNING_RATE, steps, 0.01)
  optimiser = optax.adam(schedule)

  def step(carry, _):
    p, state = carry
    (_, reproj), grads = jax.value_and_grad(loss_fn, has_aux=True)(p)
    updates, state = optimiser.update(grads, state, p)
    return (optax.apply_updates(p, updates), state), reproj

  (params, _), reproj = jax.lax.scan(step, (params, optimiser.init(params)), None, length=steps)
  shape, rot, trans = unpack(params)
  return {'shape': shape, 'rotations': rot, 'translations': trans}, reproj[-1]


def fit_head_poses(landmarks: np.ndarray, height: int, width: int,
                   config: ml_collections.ConfigDict) -> HeadPoses:
  """Fits poses, shape and focal length to a landmark track.

  Args:
    landmarks: [T, 68, 2] (x, y) pixels, every frame filled.
    height, width: image size in pixels.
    config: the `preprocess` config (focal_lengths at 512 px, pose_steps, pose_smoothness,
      shape_prior).

  Returns:
    The best fit over the candidate focal lengths (scaled by width / 512).
  """
  chex.assert_rank(landmarks, 3)
  chex.assert_axis_dimension(landmarks, 1, 68)
  face = mean_face()
  best = None
  for focal_512 in config.focal_lengths:
    focal = float(focal_512) * width / 512.0
    init = _initial_translations(landmarks, face, focal, height, width)
    fit, reproj = _fit(jnp.asarray(landmarks, jnp.float32), jnp.asarray(init, jnp.float32),
                       jnp.float32(focal), float(config.pose_smoothness), float(config.shape_prior),
                       height=height, width=width, steps=int(config.pose_steps))
    if best is None or float(reproj) < best[0]:
      best = (float(reproj), focal, fit)
  _, focal, fit = best
  projections = project_shape(fit['shape'], fit['rotations'], fit['translations'],
                              jnp.float32(focal), height, width)
  return HeadPoses(rotations=np.asarray(fit['rotations'], np.float64),
                   translations=np.asarray(fit['translations'], np.float64), focal=focal,
                   shape=np.asarray(fit['shape'], np.float64),
                   projections=np.asarray(projections, np.float64))
