"""Reads and validates the authors' on-disk dataset: one identity folder or a folder of identities.

An identity folder (the authors' `dataset/<id>/0/`) holds

  transforms_train.json, transforms_val.json  camera intrinsics and one entry per frame
  com_imgs/<img_id>.jpg                       target and reference images
  <bc_type>/<img_id>.jpg                      per-frame background (colour of the last ray sample)
  bc.jpg                                      static background plate; its size is the image size
  aud.npy                                     DeepSpeech windows [F, 16, 29]
  config.txt (optional)                       the authors' `key = value` run config (near, far)

A base-model folder holds identity folders named `0`, `1`, ..., `K-1` and nothing else (the trainer
picks identity k as the folder named `str(k)`). A fine-tune folder is the same layout with K = 1.

Everything returned is plain NumPy; images stay on disk until asked for, so full-size datasets need
not sit in memory. All problems are reported as `DatasetError` naming the file, the field and what
was expected.

Audio ids: the authors index `aud.npy[min(aud_id, F - 1)]`. The DeepSpeech windowing can produce one
window fewer than there are video frames, so an `aud_id` of exactly F is accepted and clamped like
theirs; anything further beyond aud.npy (or negative) is an error at load time.
"""

import dataclasses
import json
import math
import os
import re
from typing import Any

import ml_collections
import numpy as np

from dfrf_jax.data import image_check, images, npy_file
from dfrf_jax.data.errors import DatasetError

TRAIN_FILE = 'transforms_train.json'
VAL_FILE = 'transforms_val.json'
AUD_FILE = 'aud.npy'
BC_FILE = 'bc.jpg'
CONFIG_FILE = 'config.txt'
IMAGE_DIR = 'com_imgs'

# Tolerance on |R^T R - I| and |det R - 1| of a camera rotation and on the last row [0, 0, 0, 1].
RIGID_ATOL = 1e-4

_CONFIG_LINE = re.compile(r'^\s*(?P<key>[^\s:=#]+)\s*[:=\s]\s*(?P<value>.*?)\s*$')


@dataclasses.dataclass(frozen=True)
class Intrinsics:
  """Pinhole intrinsics shared by all frames of an identity.

  Attributes:
    focal: focal length in pixels (JSON `focal_len`).
    cx: principal point column in pixels.
    cy: principal point row in pixels.
    height: image height in pixels (from bc.jpg).
    width: image width in pixels (from bc.jpg).
  """
  focal: float
  cx: float
  cy: float
  height: int
  width: int


@dataclasses.dataclass(frozen=True, eq=False)
class Split:
  """The frames of one transforms JSON, in file order (N frames). Arrays are read-only.

  Attributes:
    source: path of the transforms JSON, for messages.
    img_ids: [N] int64 frame ids; the image files are named after them.
    aud_ids: [N] int64 rows of aud.npy (clamped to F - 1 when read).
    poses: [N, 3, 4] float32 camera-to-world matrices [R | c], world units.
    face_rects: [N, 4] int32 (x, y, w, h) in pixels as stored (x is a column).
    lip_rects: [N, 4] int32 (x, y, w, h) of the mouth in pixels (x is a column), or None when the
      JSON's frames carry no `lip_rect` (the authors write it but never read it).
    image_paths: N paths of `com_imgs/<img_id>.jpg`.
    bg_paths: N paths of `<bc_type>/<img_id>.jpg`.
  """
  source: str
  img_ids: np.ndarray
  aud_ids: np.ndarray
  poses: np.ndarray
  face_rects: np.ndarray
  lip_rects: np.ndarray | None
  image_paths: tuple[str, ...]
  bg_paths: tuple[str, ...]

  def __len__(self) -> int:
    return len(self.img_ids)


@dataclasses.dataclass(frozen=True, eq=False)
class Identity:
  """One identity folder.

  Attributes:
    root: the identity folder (holds the transforms JSONs).
    intrinsics: camera intrinsics and image size.
    near: near depth from config.txt, world units, or None when there is no config.txt.
    far: far depth from config.txt, or None.
    train: frames of transforms_train.json.
    val: frames of the val/test JSON.
    aud: [F, 16, D] float32 DeepSpeech windows of aud.npy (read-only).
  """
  root: str
  intrinsics: Intrinsics
  near: float | None
  far: float | None
  train: Split
  val: Split
  aud: np.ndarray

  def image(self, split: Split, index: int) -> np.ndarray:
    """Target/reference image of position `index` in `split`: [H, W, 3] float32 in [0, 1]."""
    return load_image(split.image_paths[index], self.intrinsics.height, self.intrinsics.width)

  def background(self, split: Split, index: int) -> np.ndarray:
    """Per-frame background of frame `index`: [H, W, 3] float32 in [0, 1]."""
    return load_image(split.bg_paths[index], self.intrinsics.height, self.intrinsics.width)

  def images(self, split: Split) -> np.ndarray:
    """All images of a split, decoded at once (small data only): [N, H, W, 3] float32 in [0, 1]."""
    return np.stack([self.image(split, i) for i in range(len(split))])

  def backgrounds(self, split: Split) -> np.ndarray:
    """All per-frame backgrounds of a split: [N, H, W, 3] float32 in [0, 1]."""
    return np.stack([self.background(split, i) for i in range(len(split))])


def load_image(path: str, height: int | None = None, width: int | None = None) -> np.ndarray:
  """Decodes an 8-bit RGB image to [H, W, 3] float32 in [0, 1] (value / 255, as the authors).

  Args:
    path: image file.
    height: expected height in pixels, or None to accept any.
    width: expected width in pixels, or None to accept any.

  Raises:
    DatasetError: the file is missing, not an image, damaged, not 8-bit RGB, or of another size.
  """
  return images.decode_image(path, height, width).astype(np.float32) / np.float32(255.0)


def aud_window(identity: Identity, aud_id: int) -> np.ndarray:
  """DeepSpeech window of an audio id, `aud[min(aud_id, F - 1)]` as the authors: [16, D] float32."""
  return identity.aud[min(int(aud_id), len(identity.aud) - 1)]


def split_aud_windows(identity: Identity, split: Split) -> np.ndarray:
  """DeepSpeech windows of every frame of a split, in split order: [N, 16, D] float32."""
  return identity.aud[np.minimum(split.aud_ids, len(identity.aud) - 1)]


def load_identity(path: str, bc_type: str = 'torso_imgs', val_file: str = VAL_FILE,
                  aud_window_shape: tuple[int, int] = (16, 29)) -> Identity:
  """Reads and validates one identity folder.

  Args:
    path: the identity folder (holds transforms_train.json).
    bc_type: folder of per-frame backgrounds (config `data.bc_type`).
    val_file: JSON of the val/test frames (config `data.test_file`).
    aud_window_shape: expected trailing shape of aud.npy, (win_size, feature dim).

  Returns:
    The identity; images are checked by header but not decoded.

  Raises:
    DatasetError: on any violation of the format (see the module docstring).
  """
  if not os.path.isdir(path):
    raise DatasetError(f'{path}: identity folder does not exist')
  aud = _read_aud(os.path.join(path, AUD_FILE), aud_window_shape)
  train_camera, train = _read_split(path, TRAIN_FILE, bc_type, len(aud))
  val_camera, val = _read_split(path, val_file, bc_type, len(aud))
  if not np.allclose(train_camera, val_camera, rtol=1e-9, atol=0.0):
    raise DatasetError(f'{os.path.join(path, val_file)}: (focal_len, cx, cy) = {val_camera}, '
                       f'expected the values of {TRAIN_FILE}: {train_camera}')
  bc_path = os.path.join(path, BC_FILE)
  width, height = images.image_size(bc_path)
  for split in (train, val):
    for image_path in split.image_paths + split.bg_paths:
      w, h = images.image_size(image_path)
      if (w, h) != (width, height):
        raise DatasetError(f'{image_path}: image is {h}x{w} (HxW), expected {height}x{width} '
                           f'like {bc_path}')
  near, far = _read_near_far(os.path.join(path, CONFIG_FILE))
  intrinsics = Intrinsics(focal=train_camera[0], cx=train_camera[1], cy=train_camera[2],
                          height=height, width=width)
  return Identity(root=path, intrinsics=intrinsics, near=near, far=far, train=train, val=val,
                  aud=aud)


def load_dataset(data_dir: str, bc_type: str = 'torso_imgs', val_file: str = VAL_FILE,
                 aud_window_shape: tuple[int, int] = (16, 29)) -> list[Identity]:
  """Reads a folder of identity folders `0`, ..., `K-1` (K = 1 for a fine-tune dataset).

  Args:
    data_dir: the authors' `datadir`, e.g. `dataset/<id>` holding `0/`.
    bc_type: folder of per-frame backgrounds (config `data.bc_type`).
    val_file: JSON of the val/test frames (config `data.test_file`).
    aud_window_shape: expected trailing shape of aud.npy, (win_size, feature dim).

  Returns:
    The identities in index order; all share one image size.

  Raises:
    DatasetError: if the folder holds anything but `0`..`K-1` folders, or an identity is invalid.
  """
  if not os.path.isdir(data_dir):
    raise DatasetError(f'{data_dir}: dataset folder does not exist')
  entries = sorted(os.listdir(data_dir))
  expected = {str(k) for k in range(len(entries))}
  unexpected = [e for e in entries
                if e not in expected or not os.path.isdir(os.path.join(data_dir, e))]
  if not entries or unexpected:
    hint = ''
    if os.path.isfile(os.path.join(data_dir, TRAIN_FILE)):
      hint = ' (this looks like an identity folder itself; pass its parent)'
    raise DatasetError(f'{data_dir}: expected only identity folders named 0..K-1, found '
                       f'{entries if not unexpected else unexpected}{hint}')
  identities = [load_identity(os.path.join(data_dir, str(k)), bc_type, val_file, aud_window_shape)
                for k in range(len(entries))]
  first = identities[0].intrinsics
  for identity in identities[1:]:
    size = (identity.intrinsics.height, identity.intrinsics.width)
    if size != (first.height, first.width):
      raise DatasetError(f'{os.path.join(identity.root, BC_FILE)}: image size {size[0]}x{size[1]} '
                         f'(HxW), expected {first.height}x{first.width} like identity 0')
  return identities


def load_dataset_from_config(config: ml_collections.ConfigDict,
                             data_dir: str | None = None) -> list[Identity]:
  """`load_dataset` of `data_dir` (default `config.data_dir`) as the run config reads it.

  The background folder is `config.data.bc_type`, the val list `config.data.test_file` and aud.npy's
  windows must be [model.win_size, model.aud_feature_dim]. Every image of both splits is decoded
  once (`image_check.check_images`), so a damaged one stops a run before it starts.

  Raises:
    DatasetError: as `load_dataset`, or an image that does not decode as an RGB image of the
      dataset's size.
  """
  data_dir = data_dir or config.data_dir
  if not data_dir:
    raise DatasetError('config.data_dir is empty; set it to the dataset folder (holding 0/)')
  identities = load_dataset(data_dir, config.data.bc_type, config.data.test_file,
                            (config.model.win_size, config.model.aud_feature_dim))
  for identity in identities:
    paths = [os.path.join(identity.root, BC_FILE)] + [
        p for split in (identity.train, identity.val) for p in split.image_paths + split.bg_paths]
    image_check.check_images(identity.root, paths, identity.intrinsics.height,
                             identity.intrinsics.width)
  return identities


def _read_split(root: str, json_name: str, bc_type: str,
                num_aud: int) -> tuple[tuple[float, float, float], Split]:
  """Parses a transforms JSON into ((focal, cx, cy), Split)."""
  path = os.path.join(root, json_name)
  meta = _read_json(path)
  camera = (_as_real(_field(meta, 'focal_len', path), f'{path}: focal_len', positive=True),
            _as_real(_field(meta, 'cx', path), f'{path}: cx'),
            _as_real(_field(meta, 'cy', path), f'{path}: cy'))
  frames = _field(meta, 'frames', path)
  if not isinstance(frames, list) or not frames:
    raise DatasetError(f'{path}: frames must be a non-empty list of frames, got {frames!r:.60}')
  img_ids, aud_ids, poses, rects, lip_rects = [], [], [], [], []
  for k, frame in enumerate(frames):
    where = f'{path}: frames[{k}]'
    if not isinstance(frame, dict):
      raise DatasetError(f'{where}: expected an object, got {type(frame).__name__}')
    img_ids.append(_as_int(_field(frame, 'img_id', where), f'{where}.img_id', minimum=0))
    aud_id = _as_int(_field(frame, 'aud_id', where), f'{where}.aud_id', minimum=0)
    if aud_id > num_aud:
      raise DatasetError(f'{where}.aud_id = {aud_id} is beyond {os.path.join(root, AUD_FILE)}, '
                         f'which has {num_aud} windows (expected aud_id <= {num_aud}; '
                         f'one past the end is clamped as the authors do)')
    aud_ids.append(aud_id)
    poses.append(_rigid_pose(_field(frame, 'transform_matrix', where), f'{where}.transform_matrix'))
    rect = _field(frame, 'face_rect', where)
    if not isinstance(rect, list) or len(rect) != 4:
      raise DatasetError(f'{where}.face_rect: expected [x, y, w, h], got {rect!r}')
    rects.append([_as_int(v, f'{where}.face_rect', minimum=0) for v in rect])
    lip_rects.append(_optional_rect(frame, 'lip_rect', where))
  has_lips = [r is not None for r in lip_rects]
  if any(has_lips) and not all(has_lips):
    missing = has_lips.index(False)
    raise DatasetError(f'{path}: frames[{missing}]: missing key \'lip_rect\' (other frames have one; '
                       f'expected it on every frame or on none)')
  image_paths = tuple(os.path.join(root, IMAGE_DIR, f'{i}.jpg') for i in img_ids)
  bg_paths = tuple(os.path.join(root, bc_type, f'{i}.jpg') for i in img_ids)
  split = Split(source=path, img_ids=_frozen(np.array(img_ids, np.int64)),
                aud_ids=_frozen(np.array(aud_ids, np.int64)),
                poses=_frozen(np.stack(poses).astype(np.float32)),
                face_rects=_frozen(np.array(rects, np.int32)),
                lip_rects=_frozen(np.array(lip_rects, np.int32)) if all(has_lips) else None,
                image_paths=image_paths,
                bg_paths=bg_paths)
  return camera, split


def _optional_rect(frame: dict[str, Any], key: str, where: str) -> list[int] | None:
  """frame[key] as [x, y, w, h] ints >= 0, or None when the frame has no such key."""
  if key not in frame:
    return None
  rect = frame[key]
  if not isinstance(rect, list) or len(rect) != 4:
    raise DatasetError(f'{where}.{key}: expected [x, y, w, h], got {rect!r}')
  return [_as_int(v, f'{where}.{key}', minimum=0) for v in rect]


def _read_json(path: str) -> dict[str, Any]:
  try:
    with open(path) as f:
      text = f.read()
  except OSError as e:
    raise DatasetError(f'{path}: cannot read the transforms JSON ({e.strerror})') from e
  try:
    meta = json.loads(text)
  except json.JSONDecodeError as e:
    truncated = ' (the file ends early: truncated?)' if e.pos >= len(text.rstrip()) else ''
    raise DatasetError(f'{path}: invalid JSON at line {e.lineno} column {e.colno}: '
                       f'{e.msg}{truncated}') from e
  if not isinstance(meta, dict):
    raise DatasetError(f'{path}: expected a JSON object with focal_len, cx, cy and frames, '
                       f'got {type(meta).__name__}')
  return meta


def _field(mapping: dict[str, Any], key: str, where: str) -> Any:
  if key not in mapping:
    raise DatasetError(f'{where}: missing key {key!r}')
  return mapping[key]


def _as_real(value: Any, where: str, positive: bool = False) -> float:
  if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
    raise DatasetError(f'{where}: expected a finite number, got {value!r}')
  if positive and value <= 0:
    raise DatasetError(f'{where}: expected a positive number, got {value!r}')
  return float(value)


def _as_int(value: Any, where: str, minimum: int) -> int:
  if isinstance(value, bool) or not isinstance(value, int):
    raise DatasetError(f'{where}: expected an integer, got {value!r}')
  if value < minimum:
    raise DatasetError(f'{where}: expected an integer >= {minimum}, got {value}')
  return value


def _rigid_pose(value: Any, where: str) -> np.ndarray:
  """Validates a 4x4 camera-to-world matrix and returns its [3, 4] part (float64)."""
  try:
    matrix = np.array(value, dtype=np.float64)
  except (TypeError, ValueError) as e:
    raise DatasetError(f'{where}: expected a 4x4 matrix of numbers ({e})') from e
  if matrix.shape != (4, 4):
    raise DatasetError(f'{where}: expected a 4x4 matrix, got shape {matrix.shape}')
  if not np.all(np.isfinite(matrix)):
    raise DatasetError(f'{where}: NaN or inf, expected finite numbers')
  if not np.allclose(matrix[3], [0.0, 0.0, 0.0, 1.0], rtol=0.0, atol=RIGID_ATOL):
    raise DatasetError(f'{where}: last row is {matrix[3].tolist()}, expected [0, 0, 0, 1]')
  rot = matrix[:3, :3]
  orth_err = np.max(np.abs(rot.T @ rot - np.eye(3)))
  det = np.linalg.det(rot)
  if orth_err > RIGID_ATOL or abs(det - 1.0) > RIGID_ATOL:
    raise DatasetError(f'{where}: rotation is not orthonormal with det +1 '
                       f'(max |R^T R - I| = {orth_err:.2e}, det = {det:.6f}, '
                       f'tolerance {RIGID_ATOL})')
  return matrix[:3]


def _read_aud(path: str, window_shape: tuple[int, int]) -> np.ndarray:
  """Reads aud.npy as [F, *window_shape] float32 with finite values."""
  expected = f'[F, {window_shape[0]}, {window_shape[1]}] floats with F >= 1'
  aud = npy_file.load_npy(path, DatasetError, f'audio feature windows {expected}')
  if aud.ndim != 3 or aud.shape[1:] != tuple(window_shape) or not aud.shape[0]:
    raise DatasetError(f'{path}: shape {aud.shape}, expected {expected}')
  if not np.issubdtype(aud.dtype, np.floating):
    raise DatasetError(f'{path}: dtype {aud.dtype}, expected {expected}')
  bad = np.flatnonzero(~np.isfinite(aud).reshape(len(aud), -1).all(axis=1))
  if bad.size:
    raise DatasetError(f'{path}: NaN or inf in the windows of frames {bad[:10].tolist()}'
                       f'{"..." if bad.size > 10 else ""}, expected finite values')
  return _frozen(aud.astype(np.float32))


def _read_near_far(path: str) -> tuple[float | None, float | None]:
  """Reads `near` and `far` from the authors' config.txt, (None, None) if there is no file."""
  if not os.path.exists(path):
    return None, None
  values = {}
  with open(path) as f:
    for lineno, line in enumerate(f, 1):
      match = _CONFIG_LINE.match(line)
      if match and match['key'] in ('near', 'far'):
        try:
          values[match['key']] = float(match['value'])
        except ValueError as e:
          raise DatasetError(f'{path}: line {lineno}: {match["key"]} = {match["value"]!r}, '
                             f'expected a number') from e
  if not values:
    return None, None
  if set(values) != {'near', 'far'}:
    raise DatasetError(f'{path}: sets only {sorted(values)}, expected both near and far or neither')
  near, far = values['near'], values['far']
  if not (math.isfinite(near) and math.isfinite(far) and 0.0 <= near < far):
    raise DatasetError(f'{path}: near = {near}, far = {far}, expected finite 0 <= near < far')
  return near, far


def _frozen(array: np.ndarray) -> np.ndarray:
  array.setflags(write=False)
  return array
