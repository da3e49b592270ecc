"""Writes the embedded synthetic talking-head dataset in the authors' on-disk layout.

`write_dataset(out_dir, spec)` produces (spec sections 1.2-1.5)

  <out_dir>/base/0/, base/1/, ...   identities for training a base model (only these folders)
  <out_dir>/<finetune_name>/0/      a held-out identity for fine-tuning

and every identity folder holds

  transforms_train.json, transforms_val.json   focal_len, cx, cy and frames {img_id, aud_id,
                                               transform_matrix (4x4 c2w), face_rect, lip_rect}
  com_imgs/<k>.jpg     the full frame: head, torso and background
  torso_imgs/<k>.jpg   the same frame with the head removed (the colour of each ray's last sample)
  bc.jpg               the background plate alone
  aud.npy              [F, 16, 29] float32 DeepSpeech-layout windows of the speech signal
  aud.wav              16 kHz mono int16, the voiced carrier modulated by the same signal
  config.txt           the authors' `key = value` run config: near/far = mean depth -0.2/+0.4
  synth_meta.json      the ground truth, not read by loaders: parameters, head poses
                       (head_to_studio), per frame the mouth opening in [0, 1] (mouth_opening)
                       and the mouth box [x, y, w, h] (mouth_box: lip_rect's box of the lips at
                       full opening in the frame's pose, so it moves with the head only)

Frames are split by time: the first floor(train_fraction F) go to train, the rest to val.
Rects are [x, y, w, h] with x a column; like the authors' they are tested inclusively,
x <= col <= x + w, and clipped to the image the way their preprocessing clips them. face_rect bounds
the head's pixels, lip_rect the projected outer edge of the lips (so it exists however small the
mouth), each with a margin.
"""

import dataclasses
import json
import math
import os
import shutil
from typing import Any, NamedTuple

import numpy as np
from PIL import Image
from scipy.io import wavfile

from dfrf_jax.data import synthetic_scene as scene
from dfrf_jax.data import synthetic_speech as speech
from dfrf_jax.render import cameras

BASE_DIR = 'base'
# Seed streams: base identities and the held-out one never share one.
BASE_ROLE, FINETUNE_ROLE = 0, 1


@dataclasses.dataclass(frozen=True)
class SynthSpec:
  """What to generate.

  Attributes:
    image_size: square image side, pixels.
    num_frames: video frames per identity (25 fps).
    num_base_ids: identities under base/.
    finetune_name: folder of the held-out identity.
    seed: seeds everything; identity k of a role gets its own stream, so adding identities leaves
      the others unchanged.
    train_fraction: share of frames (from the start) in transforms_train.json; the authors use 0.5.
    jpeg_quality: JPEG quality of all images (4:4:4 chroma).
  """
  image_size: int = 64
  num_frames: int = 100
  num_base_ids: int = 3
  finetune_name: str = 'finetune'
  seed: int = 0
  train_fraction: float = 0.5
  jpeg_quality: int = 95

  def __post_init__(self):
    if self.num_frames < 2:
      raise ValueError('num_frames must be at least 2 (a train and a val frame), '
                       f'got {self.num_frames}')
    if not 1 <= int(self.train_fraction * self.num_frames) < self.num_frames:
      raise ValueError(f'train_fraction {self.train_fraction} of {self.num_frames} frames leaves '
                       'the train or the val split empty')
    if self.num_base_ids < 0:
      raise ValueError(f'num_base_ids must be >= 0, got {self.num_base_ids}')
    name = self.finetune_name
    if not name or name in (BASE_DIR, '.', '..') or os.sep in name:
      raise ValueError(f'finetune_name must be a plain folder name other than {BASE_DIR!r}, '
                       f'got {name!r}')
    if not 1 <= self.jpeg_quality <= 100:
      raise ValueError(f'jpeg_quality must lie in [1, 100], got {self.jpeg_quality}')


class Person(NamedTuple):
  """Everything random about one identity's clip."""
  identity: scene.Identity
  motion: scene.Motion
  utterance: speech.Utterance


class IdentitySummary(NamedTuple):
  """What one identity folder holds."""
  path: str
  num_train: int
  num_val: int
  image_size: int
  near: float
  far: float


def sample_person(seed: int, role: int, index: int, num_frames: int,
                  train_fraction: float = 0.5) -> Person:
  """Identity `index` of a role (BASE_ROLE or FINETUNE_ROLE), deterministic in `seed`.

  The head's motion has its own random stream, and its waves are the ones least correlated with
  the mouth over the train and the val frames (`scene.sample_motion`), so that only the audio
  explains the mouth.
  """
  streams = np.random.SeedSequence(seed, spawn_key=(role, index)).spawn(2)
  rng, motion_rng = (np.random.default_rng(s) for s in streams)
  identity = scene.sample_identity(rng)
  utterance = speech.sample_utterance(rng, num_frames / speech.FRAME_RATE)
  times = np.arange(num_frames) / speech.FRAME_RATE
  opening, _ = speech.mouth_opening(utterance, times)
  num_train = int(train_fraction * num_frames)
  motion = scene.sample_motion(motion_rng, times, opening,
                               (slice(0, num_frames), slice(0, num_train),
                                slice(num_train, num_frames)))
  return Person(identity, motion, utterance)


def bounding_rect(rows: np.ndarray, cols: np.ndarray, height: int, width: int,
                  margin: int) -> list[int]:
  """[x, y, w, h] (x a column) whose inclusive extent holds the given pixel positions plus a margin.

  Args:
    rows, cols: [N] pixel positions (floats are rounded outwards).
    height, width: image size; the rect is clipped like the authors' rects: x, y >= 0,
      w <= W - 1 - x and h <= H - 1 - y.
    margin: pixels added on every side.

  Raises:
    ValueError: there are no positions.
  """
  if np.size(rows) == 0:
    raise ValueError('cannot bound an empty set of pixels')
  x = min(max(math.floor(np.min(cols)) - margin, 0), width - 1)
  y = min(max(math.floor(np.min(rows)) - margin, 0), height - 1)
  w = max(min(width - 1 - x, math.ceil(np.max(cols)) + margin - x), 0)
  h = max(min(height - 1 - y, math.ceil(np.max(rows)) + margin - y), 0)
  return [x, y, w, h]


def _save_jpeg(path: str, rgb: np.ndarray, quality: int) -> None:
  pixels = np.round(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)
  Image.fromarray(pixels).save(path, quality=quality, subsampling=0)


def _jsonable(value: Any) -> Any:
  if isinstance(value, np.ndarray):
    return value.tolist()
  if isinstance(value, dict):
    return {k: _jsonable(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_jsonable(v) for v in value]
  if isinstance(value, np.generic):
    return value.item()
  return value


def _write_json(path: str, value: Any) -> None:
  with open(path, 'w') as f:
    json.dump(_jsonable(value), f, indent=2)


def write_identity(folder: str, name: str, person: Person, spec: SynthSpec,
                   provenance: dict[str, Any]) -> IdentitySummary:
  """Renders one identity's clip and writes its folder (see the module docstring).

  Args:
    folder: the identity folder to create (e.g. <out>/base/0); must not exist yet.
    name: the dataset's name, written as expname in config.txt.
    person: identity, motion and utterance.
    spec: sizes and formats.
    provenance: extra entries for synth_meta.json (seed, role, index).

  Returns:
    A summary of what was written.
  """
  camera = scene.default_camera(spec.image_size)
  num_frames = spec.num_frames
  times = np.arange(num_frames) / speech.FRAME_RATE
  head_pose = scene.head_poses(person.identity, person.motion, times)
  c2w = scene.camera_to_world(head_pose)
  opening, _ = speech.mouth_opening(person.utterance, times)

  os.makedirs(os.path.join(folder, 'com_imgs'))
  os.makedirs(os.path.join(folder, 'torso_imgs'))
  margin = max(1, spec.image_size // 32)
  frames, mouth_pixels, head_pixels, mouth_boxes = [], [], [], []
  for k in range(num_frames):
    frame = scene.render_frame(person.identity, c2w[k], float(opening[k]), camera)
    _save_jpeg(os.path.join(folder, 'com_imgs', f'{k}.jpg'), frame.rgb, spec.jpeg_quality)
    _save_jpeg(os.path.join(folder, 'torso_imgs', f'{k}.jpg'), frame.torso_rgb, spec.jpeg_quality)
    head = frame.label >= scene.FIRST_HEAD_LABEL
    if not head.any():
      raise ValueError(f'{folder}: frame {k} shows no head; the framing puts it out of view')
    face_rect = bounding_rect(*np.nonzero(head), spec.image_size, spec.image_size, margin)
    lips = cameras.project(scene.lip_outline(person.identity, float(opening[k])), c2w[k],
                           camera.focal, camera.height, camera.width)
    lips = np.asarray(lips, np.float64)
    lip_rect = bounding_rect(lips[:, 0], lips[:, 1], spec.image_size, spec.image_size, 1)
    widest = np.asarray(cameras.project(scene.lip_outline(person.identity, 1.0), c2w[k],
                                        camera.focal, camera.height, camera.width), np.float64)
    mouth_boxes.append(bounding_rect(widest[:, 0], widest[:, 1], spec.image_size,
                                     spec.image_size, 1))
    frames.append({'img_id': k, 'aud_id': k,
                   'transform_matrix': np.concatenate([c2w[k], [[0.0, 0.0, 0.0, 1.0]]]),
                   'face_rect': face_rect, 'lip_rect': lip_rect})
    mouth_pixels.append(int(np.sum(frame.label == scene.MOUTH)))
    head_pixels.append(int(np.sum(head)))
  _save_jpeg(os.path.join(folder, 'bc.jpg'), scene.render_plate(person.identity, camera),
             spec.jpeg_quality)

  num_train = int(spec.train_fraction * num_frames)
  for split, split_frames in (('train', frames[:num_train]), ('val', frames[num_train:])):
    _write_json(os.path.join(folder, f'transforms_{split}.json'),
                {'focal_len': camera.focal, 'cx': camera.cx, 'cy': camera.cy,
                 'frames': split_frames})

  np.save(os.path.join(folder, 'aud.npy'), speech.audio_windows(person.utterance, num_frames))
  wavfile.write(os.path.join(folder, 'aud.wav'), speech.SAMPLE_RATE,
                speech.waveform(person.utterance, num_frames))

  mean_depth = -float(np.mean(head_pose[:, 2, 3]))     # the authors' mean_z
  near, far = mean_depth - 0.2, mean_depth + 0.4
  with open(os.path.join(folder, 'config.txt'), 'w') as f:
    f.write(f'expname = {name}\nexpname_finetune = {name}\n'
            f'near = {near}\nfar = {far}\n'
            'testskip = 1\nL2loss_weight = 5e-8\nbc_type = torso_imgs\n')

  _write_json(os.path.join(folder, 'synth_meta.json'), {
      'generator': __name__, **provenance,
      'image_size': spec.image_size, 'focal': camera.focal, 'fps': speech.FRAME_RATE,
      'num_frames': num_frames, 'train_frames': num_train, 'near': near, 'far': far,
      'jpeg_quality': spec.jpeg_quality, 'labels': scene.LABELS,
      'plate_depth': scene.plate_depth(person.identity),
      'identity': dataclasses.asdict(person.identity),
      'motion': dataclasses.asdict(person.motion),
      'utterance': dataclasses.asdict(person.utterance),
      'mouth_opening': opening, 'mouth_box': mouth_boxes, 'mouth_pixels': mouth_pixels,
      'head_pixels': head_pixels,
      'head_to_studio': head_pose,
  })
  return IdentitySummary(folder, num_train, num_frames - num_train, spec.image_size, near, far)


def write_dataset(out_dir: str, spec: SynthSpec, overwrite: bool = False) -> list[IdentitySummary]:
  """Writes base/0..K-1 and <finetune_name>/0 under out_dir.

  Args:
    out_dir: output root (created if needed).
    spec: what to generate.
    overwrite: delete existing base/ and <finetune_name>/ folders first; without it, existing
      ones are an error (stale identities would otherwise be mixed into a base set).

  Returns:
    One summary per identity: the base identities in order, then the fine-tune identity.
  """
  targets = [os.path.join(out_dir, BASE_DIR), os.path.join(out_dir, spec.finetune_name)]
  for target in targets:
    if os.path.exists(target):
      if not overwrite:
        raise FileExistsError(f'{target}: already exists; pass overwrite=True to replace it')
      shutil.rmtree(target)
  jobs = [(os.path.join(targets[0], str(k)), BASE_DIR, BASE_ROLE, k)
          for k in range(spec.num_base_ids)]
  jobs.append((os.path.join(targets[1], '0'), spec.finetune_name, FINETUNE_ROLE, 0))
  summaries = []
  for folder, name, role, index in jobs:
    person = sample_person(spec.seed, role, index, spec.num_frames, spec.train_fraction)
    provenance = {'seed': spec.seed, 'role': 'base' if role == BASE_ROLE else 'finetune',
                  'index': index}
    summaries.append(write_identity(folder, name, person, spec, provenance))
  return summaries
