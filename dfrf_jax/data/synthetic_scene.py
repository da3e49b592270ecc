"""Exact ray casting of a procedural talking head in front of a torso and a background plate.

Two frames of reference are used:

  * the head frame, the NeRF world of the dataset: the head is rigid and static in it, its skull
    centred at the origin, face towards +z, y up, units of metres. Cameras c2w live in this frame.
  * the studio frame of the fixed physical camera (at the origin, looking down -z): the background
    plate is static in it, and the torso sways a little with the head.

A head pose moves the head in the studio, p_studio = R p_head + T; the dataset's camera is its
inverse, c2w = [R^T | -R^T T], as the authors' tracker writes it (spec section 2.3). Since the ray
direction has z = -1 in camera space, the ray parameter t of a hit is its camera depth.

The head is a union of ellipsoids (skull, hair shell clipped by a tilted plane, ears, nose, eyes);
the mouth, lips and brows are regions of the skull surface, the mouth's height following the
speech signal. The torso is two ellipsoids (shoulders, neck), the background an infinite plane.
Rays come from `dfrf_jax.render.cameras.image_rays` (float32, exactly the rays a model casts from
the stored poses); each is intersected with every solid in closed form in float64 and the nearest
hit with t > 0 is shaded: albedo x (ambient + diffuse max(0, n.l)) with one light fixed in the head
frame for the head (so the head's radiance is static in the NeRF world) and in the studio for the
torso; the plate is unlit.
"""

import dataclasses
import math
from typing import NamedTuple

import jax
import numpy as np

from dfrf_jax.render import cameras

# Surface labels of `Frame.label`; labels >= FIRST_HEAD_LABEL belong to the head.
LABELS = ('background', 'torso', 'neck', 'skin', 'hair', 'ear', 'nose', 'eye', 'lips', 'mouth')
BACKGROUND, TORSO, NECK, SKIN, HAIR, EAR, NOSE, EYE, LIPS, MOUTH = range(len(LABELS))
FIRST_HEAD_LABEL = SKIN

# The authors' tracker uses focal 1300 px at 512 px; the synthetic camera keeps that field of view.
FOCAL_PER_PIXEL = 1300.0 / 512.0

LIGHT = (-0.35, 0.55, 0.76)      # direction towards the light (normalised where used)
AMBIENT = 0.45
DIFFUSE = 0.6
PLATE_BEHIND_HEAD = 0.8          # plate depth = head distance + this, metres (beyond `far`)
TORSO_FOLLOW = 0.5               # share of the head's sideways/vertical shift the torso follows
NECK_SHADE = 0.8                 # the neck's skin is darker (in the head's shadow)
MOTION_CANDIDATES = 256           # waves drawn per jitter channel, the least mouth-like one kept

# Mouth, in skull-normalised coordinates q = p / skull_radii.
MOUTH_CLOSED = 0.02              # half-height of the closed mouth
MOUTH_RANGE = 0.16               # extra half-height at full opening
LIP_WIDTH = 0.05
TEETH_HEIGHT = 0.035
MOUTH_CAVITY = (0.28, 0.05, 0.07)
TEETH = (0.93, 0.91, 0.86)
SCLERA = (0.94, 0.93, 0.9)
PUPIL = (0.03, 0.03, 0.04)
_HAIR_COLOURS = ((0.07, 0.05, 0.04), (0.28, 0.17, 0.09), (0.55, 0.4, 0.2), (0.5, 0.22, 0.1),
                 (0.6, 0.6, 0.58))    # black, brown, blond, red, grey


@dataclasses.dataclass(frozen=True)
class Identity:
  """The look of one synthetic person and how they sit in front of the camera.

  Lengths are metres, colours RGB in [0, 1], angles radians.

  Attributes:
    skull_radii: (x, y, z) semi-axes of the skull ellipsoid, centred at the head-frame origin.
    skin: skin colour.
    skin_waves: three (kx, ky, kz, phase) plane waves (cycles per metre) modulating the skin.
    blush: strength of the cheeks' redness.
    hair: hair colour.
    hair_scale: hair shell semi-axes as a multiple of the skull's.
    hairline: height of the hair's lower edge at the front and at the back, in skull y radii.
    nose_radii: semi-axes of the nose ellipsoid.
    ear_radii: semi-axes of each ear ellipsoid.
    eye: (longitude, latitude, radius) of the eyes; longitude measured from +z, mirrored for left.
    iris: iris colour.
    lips: lip colour.
    mouth: (latitude, half-width in skull x radii) of the mouth.
    shirt: two colours of the shirt's stripes.
    stripe_frequency: stripes per metre across the shirt.
    shoulder_radii: semi-axes of the shoulder ellipsoid.
    plate: (top, bottom) colours of the background plate's vertical gradient.
    plate_blobs: (x, y, sigma, r, g, b) Gaussian colour blobs added to the plate (xy on the plate).
    distance: mean distance from the camera to the skull centre.
    height: mean height of the skull centre above the camera axis.
  """
  skull_radii: tuple[float, float, float]
  skin: tuple[float, float, float]
  skin_waves: tuple[tuple[float, float, float, float], ...]
  blush: float
  hair: tuple[float, float, float]
  hair_scale: float
  hairline: tuple[float, float]
  nose_radii: tuple[float, float, float]
  ear_radii: tuple[float, float, float]
  eye: tuple[float, float, float]
  iris: tuple[float, float, float]
  lips: tuple[float, float, float]
  mouth: tuple[float, float]
  shirt: tuple[tuple[float, float, float], tuple[float, float, float]]
  stripe_frequency: float
  shoulder_radii: tuple[float, float, float]
  plate: tuple[tuple[float, float, float], tuple[float, float, float]]
  plate_blobs: tuple[tuple[float, float, float, float, float, float], ...]
  distance: float
  height: float


@dataclasses.dataclass(frozen=True)
class Motion:
  """Smooth head jitter of a speaking person.

  Channel c (pitch, yaw, roll in radians; x, y, z translation in metres) moves by
  amplitude[c] * (0.6 sin(2 pi f0 t + p0) + 0.4 sin(2 pi f1 t + p1)) with (f0, f1) = frequency[c]
  (Hz) and (p0, p1) = phase[c].
  """
  amplitude: tuple[float, ...]
  frequency: tuple[tuple[float, float], ...]
  phase: tuple[tuple[float, float], ...]


class Camera(NamedTuple):
  """Pinhole intrinsics: image size and focal length in pixels, principal point (column, row)."""
  height: int
  width: int
  focal: float
  cx: float
  cy: float


class Frame(NamedTuple):
  """One exactly rendered frame.

  Attributes:
    rgb: [H, W, 3] float64 in [0, 1], head, torso and background.
    label: [H, W] int32 index into LABELS of the first surface hit.
    depth: [H, W] float64 camera depth (= ray parameter t) of that hit, metres.
    torso_rgb: [H, W, 3] float64, the same frame with the head removed (torso and background).
    torso_label: [H, W] int32 labels of torso_rgb (all < FIRST_HEAD_LABEL).
    torso_depth: [H, W] float64 depths of torso_rgb.
  """
  rgb: np.ndarray
  label: np.ndarray
  depth: np.ndarray
  torso_rgb: np.ndarray
  torso_label: np.ndarray
  torso_depth: np.ndarray


def default_camera(image_size: int) -> Camera:
  """A square camera with the authors' field of view (focal 1300 px at 512 px), centred."""
  if image_size < 8:
    raise ValueError(f'image_size must be at least 8 pixels, got {image_size}')
  return Camera(height=image_size, width=image_size, focal=FOCAL_PER_PIXEL * image_size,
                cx=image_size / 2.0, cy=image_size / 2.0)


def sample_identity(rng: np.random.Generator) -> Identity:
  """Draws a person: head shape, colours, textures, framing and background."""
  def uniform(low: float, high: float, n: int | None = None):
    value = rng.uniform(low, high, n)
    return float(value) if n is None else tuple(float(v) for v in value)

  def colour(low: float = 0.0, high: float = 1.0) -> tuple[float, float, float]:
    return uniform(low, high, 3)

  tone = rng.uniform()
  skin = (1 - tone) * np.array([0.96, 0.8, 0.68]) + tone * np.array([0.45, 0.3, 0.2])
  skin = np.clip(skin + rng.uniform(-0.04, 0.04, 3), 0.0, 1.0)
  waves = [(*rng.normal(0.0, 8.0, 3), rng.uniform(0, 2 * np.pi)) for _ in range(3)]
  return Identity(
      skull_radii=(uniform(0.068, 0.08), uniform(0.095, 0.11), uniform(0.085, 0.098)),
      skin=tuple(float(v) for v in skin),
      skin_waves=tuple(tuple(float(v) for v in w) for w in waves),
      blush=uniform(0.0, 1.0),
      hair=tuple(float(v) for v in np.clip(
          np.asarray(_HAIR_COLOURS[rng.integers(len(_HAIR_COLOURS))]) + rng.uniform(-0.04, 0.04, 3),
          0.0, 1.0)),
      hair_scale=uniform(1.04, 1.08),
      hairline=(uniform(0.35, 0.55), uniform(-0.5, -0.2)),
      nose_radii=(uniform(0.01, 0.015), uniform(0.018, 0.026), uniform(0.018, 0.026)),
      ear_radii=(uniform(0.01, 0.014), uniform(0.025, 0.032), uniform(0.015, 0.02)),
      eye=(uniform(0.3, 0.4), uniform(0.08, 0.18), uniform(0.01, 0.013)),
      iris=colour(0.05, 0.6),
      lips=tuple(float(v) for v in np.clip(0.75 * skin + np.array([0.22, 0.0, 0.03]), 0, 1)),
      mouth=(uniform(-0.55, -0.45), uniform(0.22, 0.3)),
      shirt=(colour(0.1, 0.9), colour(0.1, 0.9)),
      stripe_frequency=uniform(15.0, 30.0),
      shoulder_radii=(uniform(0.18, 0.23), uniform(0.1, 0.12), uniform(0.1, 0.12)),
      plate=(colour(0.2, 0.9), colour(0.1, 0.7)),
      plate_blobs=tuple((uniform(-0.35, 0.35), uniform(-0.35, 0.35), uniform(0.06, 0.18),
                         *uniform(-0.3, 0.3, 3)) for _ in range(4)),
      distance=uniform(0.8, 0.95),
      height=uniform(0.02, 0.04),
  )


def sample_motion(rng: np.random.Generator, times: np.ndarray | None = None,
                  opening: np.ndarray | None = None, segments: tuple[slice, ...] = (slice(None),)) -> Motion:
  """Draws head jitter: a few degrees of rotation, millimetres to a centimetre of translation.

  Over a short clip a slow random wave can follow the mouth by chance (r of 0.5 and more over a
  2 s split), and a model or a metric on a fixed mouth box could then read the mouth off the pose.
  Given the clip's mouth opening, each channel's waves are therefore chosen among
  MOTION_CANDIDATES draws as the one least correlated with it: the smallest largest |r| over the
  `segments` of the frames (e.g. the train and val splits).

  Args:
    rng: the random stream (the person's motion stream, separate from their voice's).
    times: [T] seconds of the clip's frames (needed with `opening`).
    opening: [T] mouth opening at those times, or None to keep each channel's first draw.
    segments: ranges of the frames over which the correlation is kept small.
  """
  amplitude = np.concatenate([np.deg2rad(rng.uniform([2.0, 3.0, 1.0], [5.0, 7.0, 3.0])),
                              rng.uniform([0.003, 0.003, 0.005], [0.008, 0.008, 0.015])])
  frequency = rng.uniform(0.08, 0.5, (MOTION_CANDIDATES, 6, 2))
  phase = rng.uniform(0.0, 2 * np.pi, (MOTION_CANDIDATES, 6, 2))
  best = np.zeros(6, np.int64)
  if opening is not None:
    waves = _waves(frequency, phase, times)                           # [T, K, 6]
    worst = np.zeros((MOTION_CANDIDATES, 6))
    for segment in segments:
      worst = np.maximum(worst, np.abs(_correlation(waves[segment], opening[segment])))
    best = np.argmin(worst, axis=0)
  channels = np.arange(6)
  return Motion(amplitude=tuple(float(a) for a in amplitude),
                frequency=tuple(tuple(float(v) for v in f) for f in frequency[best, channels]),
                phase=tuple(tuple(float(v) for v in p) for p in phase[best, channels]))


def _waves(frequency: np.ndarray, phase: np.ndarray, times: np.ndarray) -> np.ndarray:
  """Unit jitter 0.6 sin(2 pi f0 t + p0) + 0.4 sin(2 pi f1 t + p1): [..., 2] x2, [T] -> [T, ...]."""
  t = np.asarray(times, np.float64).reshape((-1,) + (1,) * frequency.ndim)
  waves = np.sin(2 * np.pi * frequency[None] * t + phase[None])
  return 0.6 * waves[..., 0] + 0.4 * waves[..., 1]


def _correlation(series: np.ndarray, signal: np.ndarray) -> np.ndarray:
  """Pearson r of each series [T, ...] with a signal [T] over T; 0 where either is constant."""
  x = series - series.mean(axis=0)
  y = (signal - signal.mean()).reshape((-1,) + (1,) * (series.ndim - 1))
  norm = np.sqrt(np.sum(x**2, axis=0) * np.sum(y**2))
  return np.where(norm > 0, np.sum(x * y, axis=0) / np.where(norm > 0, norm, 1.0), 0.0)


def euler_to_rotation(angles: np.ndarray) -> np.ndarray:
  """R = Rx(pitch) Ry(yaw) Rz(roll), the authors' tracker convention: [..., 3] -> [..., 3, 3]."""
  angles = np.asarray(angles, np.float64)
  c, s = np.cos(angles), np.sin(angles)
  one, zero = np.ones_like(c[..., 0]), np.zeros_like(c[..., 0])
  rx = np.stack([one, zero, zero, zero, c[..., 0], -s[..., 0], zero, s[..., 0], c[..., 0]], -1)
  ry = np.stack([c[..., 1], zero, s[..., 1], zero, one, zero, -s[..., 1], zero, c[..., 1]], -1)
  rz = np.stack([c[..., 2], -s[..., 2], zero, s[..., 2], c[..., 2], zero, zero, zero, one], -1)
  shape = angles.shape[:-1] + (3, 3)
  return rx.reshape(shape) @ ry.reshape(shape) @ rz.reshape(shape)


def pose_jitter(motion: Motion, times: np.ndarray) -> np.ndarray:
  """The six jitter channels (pitch, yaw, roll rad; x, y, z m) at times [T] s: [T, 6] float64."""
  return np.asarray(motion.amplitude) * _waves(np.asarray(motion.frequency),
                                               np.asarray(motion.phase), times)


def head_poses(identity: Identity, motion: Motion, times: np.ndarray) -> np.ndarray:
  """Head-to-studio poses [R | T] at the given times: [T] seconds -> [T, 3, 4] float64."""
  jitter = pose_jitter(motion, times)
  rotation = euler_to_rotation(jitter[:, :3])
  translation = jitter[:, 3:] + np.array([0.0, identity.height, -identity.distance])
  return np.concatenate([rotation, translation[:, :, None]], axis=-1)


def camera_to_world(head_pose: np.ndarray) -> np.ndarray:
  """The dataset camera of a head pose: [..., 3, 4] [R | T] -> [..., 3, 4] c2w [R^T | -R^T T]."""
  rotation_t = np.swapaxes(head_pose[..., :3], -1, -2)
  centre = -rotation_t @ head_pose[..., 3:]
  return np.concatenate([rotation_t, centre], axis=-1)


def shade(albedo: np.ndarray, normals: np.ndarray) -> np.ndarray:
  """Lambertian shading under LIGHT: albedo [N, 3], unit normals [N, 3] -> [N, 3] in [0, 1]."""
  light = np.asarray(LIGHT) / np.linalg.norm(LIGHT)
  lambert = np.maximum(normals @ light, 0.0)
  return np.clip(albedo * (AMBIENT + DIFFUSE * lambert)[:, None], 0.0, 1.0)


def plate_albedo(identity: Identity, xy: np.ndarray) -> np.ndarray:
  """Background plate colour at studio-frame plate coordinates xy [N, 2] metres -> [N, 3]."""
  top, bottom = np.asarray(identity.plate[0]), np.asarray(identity.plate[1])
  mix = 1.0 / (1.0 + np.exp(-xy[:, 1:2] / 0.12))
  colour = bottom + mix * (top - bottom)
  for x, y, sigma, *delta in identity.plate_blobs:
    weight = np.exp(-((xy[:, 0] - x)**2 + (xy[:, 1] - y)**2) / (2 * sigma**2))
    colour = colour + weight[:, None] * np.asarray(delta)
  return np.clip(colour, 0.0, 1.0)


def skin_albedo(identity: Identity, points: np.ndarray) -> np.ndarray:
  """Skin colour (with brows and blushed cheeks) at head-frame points [N, 3] metres -> [N, 3]."""
  skin = np.asarray(identity.skin)
  waves = np.asarray(identity.skin_waves)
  ripple = np.mean(np.sin(2 * np.pi * points @ waves[:, :3].T + waves[:, 3]), axis=1)
  colour = skin * (1.0 + 0.06 * ripple)[:, None]
  q = points / np.asarray(identity.skull_radii)
  front = q[:, 2] > 0
  cheek = np.exp(-((np.abs(q[:, 0]) - 0.5)**2 + (q[:, 1] + 0.25)**2) / 0.02) * front
  colour = colour + identity.blush * cheek[:, None] * np.array([0.2, -0.04, -0.04])
  lon, lat, _ = identity.eye
  brow_x, brow_y = math.sin(lon) * math.cos(lat), math.sin(lat) + 0.2
  brow = 1.0 - ((np.abs(q[:, 0]) - brow_x) / 0.17)**2 - ((q[:, 1] - brow_y) / 0.04)**2
  brow = np.clip(4.0 * brow, 0.0, 1.0) * front
  colour = colour + 0.8 * brow[:, None] * (np.asarray(identity.hair) - colour)
  return np.clip(colour, 0.0, 1.0)


def eye_centres(identity: Identity) -> np.ndarray:
  """Head-frame centres of the right (+x) and left eye spheres: [2, 3] metres."""
  lon, lat, radius = identity.eye
  radii = np.asarray(identity.skull_radii)
  centres = []
  for side in (1.0, -1.0):
    q = np.array([side * math.sin(lon) * math.cos(lat), math.sin(lat),
                  math.cos(lon) * math.cos(lat)])
    normal = q / radii
    normal /= np.linalg.norm(normal)
    centres.append(q * radii - 0.4 * radius * normal)    # 60 % of the eyeball shows
  return np.stack(centres)


def lip_outline(identity: Identity, opening: float, num_points: int = 48) -> np.ndarray:
  """Head-frame points on the outer edge of the lips at a mouth opening: [num_points, 3] metres."""
  latitude, half_width = identity.mouth
  half_height = MOUTH_CLOSED + MOUTH_RANGE * opening
  angle = np.linspace(0.0, 2 * np.pi, num_points, endpoint=False)
  qx = (half_width + LIP_WIDTH) * np.cos(angle)
  qy = math.sin(latitude) + (half_height + LIP_WIDTH) * np.sin(angle)
  q = np.stack([qx, qy, np.sqrt(1.0 - qx**2 - qy**2)], axis=-1)
  return q * np.asarray(identity.skull_radii)


def _ellipsoid_hits(origins: np.ndarray, dirs: np.ndarray, centre: np.ndarray,
                    radii: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Entry and exit ray parameters of an ellipsoid: rays [N, 3] -> ([N], [N]), inf on a miss."""
  o = (origins - centre) / radii
  d = dirs / radii
  a = np.einsum('ij,ij->i', d, d)
  b = np.einsum('ij,ij->i', o, d)
  c = np.einsum('ij,ij->i', o, o) - 1.0
  disc = b * b - a * c
  root = np.sqrt(np.maximum(disc, 0.0))
  miss = disc < 0
  return (np.where(miss, np.inf, (-b - root) / a), np.where(miss, np.inf, (-b + root) / a))


def _ellipsoid_normals(points: np.ndarray, centre: np.ndarray, radii: np.ndarray) -> np.ndarray:
  n = (points - centre) / np.asarray(radii)**2
  return n / np.linalg.norm(n, axis=-1, keepdims=True)


def _front(t: np.ndarray) -> np.ndarray:
  """Hits behind the camera are misses."""
  return np.where(t > 0, t, np.inf)


def _above_hairline(identity: Identity, points: np.ndarray) -> np.ndarray:
  """Whether head-frame points lie above the tilted plane that bounds the hair: [N] bool."""
  _, ry, rz = identity.skull_radii
  front, back = identity.hairline
  z = np.clip(points[:, 2] / rz, -1.0, 1.0)
  edge = 0.5 * (front * (1 + z) + back * (1 - z))
  return points[:, 1] / ry > edge


def _hair_hits(identity: Identity, origins: np.ndarray, dirs: np.ndarray, centre: np.ndarray,
               radii: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Hits on the hair, an ellipsoidal shell above the hairline: ([N] t, [N] bool hit from inside).

  The entry point counts when it lies above the hairline, else the exit point (the inside of the
  shell, seen under its edge) when that does.
  """
  entry, exit_ = (_front(t) for t in _ellipsoid_hits(origins, dirs, centre, radii))
  def above(t):
    return _above_hairline(identity, origins + np.where(np.isinf(t), 0.0, t)[:, None] * dirs)
  entry_ok, exit_ok = above(entry), above(exit_)
  return np.where(entry_ok, entry, np.where(exit_ok, exit_, np.inf)), ~entry_ok


def _solids(identity: Identity,
            torso_shift: np.ndarray) -> dict[str, tuple[str, np.ndarray, np.ndarray]]:
  """The ellipsoids of the scene, name -> (frame, centre [3], radii [3])."""
  radii = np.asarray(identity.skull_radii)
  rx, ry, rz = radii
  eyes = eye_centres(identity)
  eye_radii = np.full(3, identity.eye[2])
  ear_radii = np.asarray(identity.ear_radii)
  torso_base = np.array([0.0, identity.height, -identity.distance]) + torso_shift
  ry_shoulder = identity.shoulder_radii[1]
  return {
      'skull': ('head', np.zeros(3), radii),
      'hair': ('head', np.array([0.0, 0.01, -0.008]), identity.hair_scale * radii),
      'ear_right': ('head', np.array([0.97 * rx, -0.08 * ry, -0.08 * rz]), ear_radii),
      'ear_left': ('head', np.array([-0.97 * rx, -0.08 * ry, -0.08 * rz]), ear_radii),
      'nose': ('head', np.array([0.0, -0.12 * ry, 0.97 * rz]), np.asarray(identity.nose_radii)),
      'eye_right': ('head', eyes[0], eye_radii),
      'eye_left': ('head', eyes[1], eye_radii),
      'neck': ('studio', torso_base + np.array([0.0, -0.13, -0.01]), np.array([0.04, 0.09, 0.04])),
      'shoulders': ('studio', torso_base + np.array([0.0, -0.14 - ry_shoulder, -0.05]),
                    np.asarray(identity.shoulder_radii)),
  }


_STUDIO_SOLIDS = ('plate', 'neck', 'shoulders')
_HEAD_SOLIDS = ('skull', 'hair', 'ear_right', 'ear_left', 'nose', 'eye_right', 'eye_left')
_SOLID_ORDER = _STUDIO_SOLIDS + _HEAD_SOLIDS
_image_rays = jax.jit(cameras.image_rays, static_argnums=(0, 1))


def _rays(camera: Camera, c2w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """The camera's rays as the model casts them (float32), as float64 head-frame ([P, 3], [P, 3])."""
  origins, dirs = _image_rays(camera.height, camera.width, np.asarray(c2w, np.float32),
                              camera.focal, camera.cx, camera.cy)
  return (np.asarray(origins, np.float64).reshape(-1, 3),
          np.asarray(dirs, np.float64).reshape(-1, 3))


def plate_depth(identity: Identity) -> float:
  """Camera depth of the background plate (the plane z = -depth of the studio frame), metres."""
  return identity.distance + PLATE_BEHIND_HEAD


def render_plate(identity: Identity, camera: Camera) -> np.ndarray:
  """The background plate alone as the fixed camera sees it (bc.jpg): [H, W, 3] float64."""
  origins, dirs = _rays(camera, np.eye(3, 4))
  t = (-plate_depth(identity) - origins[:, 2]) / dirs[:, 2]
  xy = origins[:, :2] + t[:, None] * dirs[:, :2]
  return plate_albedo(identity, xy).reshape(camera.height, camera.width, 3)


def _skull_surface(identity: Identity, points: np.ndarray,
                   opening: float) -> tuple[np.ndarray, np.ndarray]:
  """Labels (skin, lips, mouth) and albedo of skull points [N, 3]: ([N] int32, [N, 3])."""
  q = points / np.asarray(identity.skull_radii)
  latitude, half_width = identity.mouth
  half_height = MOUTH_CLOSED + MOUTH_RANGE * opening
  v = q[:, 1] - math.sin(latitude)
  front = q[:, 2] > 0
  inner = front & ((q[:, 0] / half_width)**2 + (v / half_height)**2 < 1.0)
  outer = front & ((q[:, 0] / (half_width + LIP_WIDTH))**2
                   + (v / (half_height + LIP_WIDTH))**2 < 1.0)
  labels = np.where(inner, MOUTH, np.where(outer, LIPS, SKIN)).astype(np.int32)
  teeth = v > half_height - TEETH_HEIGHT
  mouth_colour = np.where(teeth[:, None], np.asarray(TEETH), np.asarray(MOUTH_CAVITY))
  albedo = np.where((labels == MOUTH)[:, None], mouth_colour,
                    np.where((labels == LIPS)[:, None], np.asarray(identity.lips),
                             skin_albedo(identity, points)))
  return labels, albedo


def _hair_albedo(identity: Identity, points: np.ndarray) -> np.ndarray:
  """Hair colour with strands radiating from the crown: head-frame points [N, 3] -> [N, 3]."""
  strands = np.sin(40.0 * np.arctan2(points[:, 0], points[:, 2] + 0.03))
  return np.clip(np.asarray(identity.hair) * (0.85 + 0.15 * strands)[:, None], 0.0, 1.0)


def _eye_albedo(identity: Identity, points: np.ndarray, centre: np.ndarray) -> np.ndarray:
  """Sclera, iris and pupil by the angle from the gaze (+z): points [N, 3] -> [N, 3]."""
  gaze_cos = (points[:, 2] - centre[2]) / identity.eye[2]
  colour = np.where((gaze_cos > 0.75)[:, None], np.asarray(identity.iris), np.asarray(SCLERA))
  return np.where((gaze_cos > 0.93)[:, None], np.asarray(PUPIL), colour)


def _shirt_albedo(identity: Identity, points: np.ndarray) -> np.ndarray:
  """Smoothly striped shirt: studio-frame points [N, 3] -> [N, 3]."""
  a, b = np.asarray(identity.shirt[0]), np.asarray(identity.shirt[1])
  across = points[:, 0] + 0.3 * points[:, 1]
  mix = 0.5 + 0.5 * np.sin(2 * np.pi * identity.stripe_frequency * across)
  return a + mix[:, None] * (b - a)


def render_frame(identity: Identity, c2w: np.ndarray, opening: float, camera: Camera) -> Frame:
  """Renders one frame exactly: every pixel ray's first hit, with and without the head.

  Args:
    identity: the person.
    c2w: [3, 4] camera-to-head-frame pose (the dataset's transform_matrix[:3]), the inverse of the
      head pose; the torso follows TORSO_FOLLOW of the head's sideways and vertical offset.
    opening: mouth opening in [0, 1].
    camera: intrinsics.

  Returns:
    The frame (see `Frame`).
  """
  c2w = np.asarray(c2w, np.float64)
  if c2w.shape != (3, 4):
    raise ValueError(f'c2w must be [3, 4], got {c2w.shape}')
  if not 0.0 <= opening <= 1.0:
    raise ValueError(f'mouth opening must lie in [0, 1], got {opening}')
  rotation = c2w[:, :3].T                                  # head -> studio
  translation = -rotation @ c2w[:, 3]
  torso_shift = TORSO_FOLLOW * np.array([translation[0], translation[1] - identity.height, 0.0])
  origins, dirs = _rays(camera, c2w)
  rays = {'head': (origins, dirs),
          'studio': (origins @ rotation.T + translation, dirs @ rotation.T)}
  solids = _solids(identity, torso_shift)

  hits = {}
  studio_o, studio_d = rays['studio']
  hits['plate'] = _front((-plate_depth(identity) - studio_o[:, 2]) / studio_d[:, 2])
  for name, (frame, centre, radii) in solids.items():
    if name == 'hair':
      hits[name], inner_hair = _hair_hits(identity, *rays[frame], centre, radii)
    else:
      hits[name] = _front(_ellipsoid_hits(*rays[frame], centre, radii)[0])
  t = np.stack([hits[name] for name in _SOLID_ORDER])      # [S, P]
  first = np.argmin(t, axis=0)
  first_body = np.argmin(t[:len(_STUDIO_SOLIDS)], axis=0)

  num_rays = origins.shape[0]
  rgb, label = np.zeros((num_rays, 3)), np.zeros(num_rays, np.int32)
  torso_rgb, torso_label = np.zeros((num_rays, 3)), np.zeros(num_rays, np.int32)
  for s, name in enumerate(_SOLID_ORDER):
    in_frame, in_torso = first == s, first_body == s
    mask = in_frame | in_torso
    if not mask.any():
      continue
    o, d = rays['studio' if name in _STUDIO_SOLIDS else 'head']
    points = o[mask] + hits[name][mask, None] * d[mask]
    colour, labels = _surface(identity, name, points, solids, opening, inner_hair[mask])
    rgb[in_frame], label[in_frame] = colour[in_frame[mask]], labels[in_frame[mask]]
    torso_rgb[in_torso], torso_label[in_torso] = colour[in_torso[mask]], labels[in_torso[mask]]

  rows = np.arange(num_rays)
  shape = (camera.height, camera.width)
  return Frame(rgb=rgb.reshape(*shape, 3), label=label.reshape(shape),
               depth=t[first, rows].reshape(shape),
               torso_rgb=torso_rgb.reshape(*shape, 3), torso_label=torso_label.reshape(shape),
               torso_depth=t[first_body, rows].reshape(shape))


def _surface(identity: Identity, name: str, points: np.ndarray,
             solids: dict[str, tuple[str, np.ndarray, np.ndarray]], opening: float,
             inner_hair: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Shaded colour and label of hits on one solid: points [M, 3] -> ([M, 3], [M] int32).

  `inner_hair` [M] marks hair hits on the inside of the shell, whose normal is flipped.
  """
  if name == 'plate':
    return plate_albedo(identity, points[:, :2]), np.full(len(points), BACKGROUND, np.int32)
  _, centre, radii = solids[name]
  normals = _ellipsoid_normals(points, centre, radii)
  if name == 'skull':
    labels, albedo = _skull_surface(identity, points, opening)
  elif name == 'hair':
    normals = np.where(inner_hair[:, None], -normals, normals)
    labels, albedo = HAIR, _hair_albedo(identity, points)
  elif name.startswith('eye'):
    labels, albedo = EYE, _eye_albedo(identity, points, centre)
  elif name.startswith('ear'):
    labels, albedo = EAR, skin_albedo(identity, points)
  elif name == 'nose':
    labels, albedo = NOSE, skin_albedo(identity, points)
  elif name == 'neck':
    labels, albedo = NECK, np.broadcast_to(NECK_SHADE * np.asarray(identity.skin), points.shape)
  else:
    labels, albedo = TORSO, _shirt_albedo(identity, points)
  return shade(albedo, normals), np.broadcast_to(np.asarray(labels, np.int32), (len(points),))
