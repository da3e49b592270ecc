"""Runs every preprocessing stage on one video and writes the dataset in the authors' layout.

`<out>/0/` receives what `dfrf_jax.data.dataset.load_identity` reads (transforms_train.json,
transforms_val.json, com_imgs/, torso_imgs/, bc.jpg, aud.npy, config.txt) and, for people and later
tools: ori_imgs/<k>.jpg and <k>.lms (the decoded frames and their landmarks, as the authors), aud.wav
(16 kHz mono), aud_features.json (what aud.npy holds), track.npz (landmarks, poses, focal, shape),
contact_sheet.png and preprocess_report.json. Frame ids are 0-based indices of the frames at
config.fps; aud_id = img_id.
"""

import contextlib
import dataclasses
import json
import os
import time
from typing import Callable

import ml_collections
import numpy as np
from PIL import Image

from dfrf_jax import outputs
from dfrf_jax.data import audio_io
from dfrf_jax.preprocess import audio_features
from dfrf_jax.preprocess import contact_sheet
from dfrf_jax.preprocess import head_pose
from dfrf_jax.preprocess import landmarks as landmarks_lib
from dfrf_jax.preprocess import masks
from dfrf_jax.preprocess import media
from dfrf_jax.preprocess.errors import PreprocessError

_PLATE_STRIDE = 20   # every 20th frame builds bc.jpg, as the authors' step 4
_SHEET_FRAMES = 8
_JPEG_QUALITY = 95


@dataclasses.dataclass(frozen=True)
class Report:
  """What the run found.

  Attributes:
    num_frames: frames at config.fps.
    frames_without_face: frames whose landmarks were interpolated.
    focal: chosen focal length in pixels.
    reprojection_px: mean landmark reprojection error over frames with a face, pixels.
    near, far: depth bounds written to config.txt, metres.
    train_frames, val_frames: split sizes.
    audio_features: kind and shape of aud.npy.
    seconds: wall time per stage.
  """
  num_frames: int
  frames_without_face: int
  focal: float
  reprojection_px: float
  near: float
  far: float
  train_frames: int
  val_frames: int
  audio_features: str
  seconds: dict[str, float]


def preprocess_video(video: str, out_dir: str, config: ml_collections.ConfigDict,
                     features_path: str | None = None,
                     log: Callable[[str], None] = print) -> Report:
  """Turns a talking-head video into a fine-tune dataset `out_dir/0/`.

  Args:
    video: any video file ffmpeg reads, with one face and (unless `features_path`) an audio track.
    out_dir: dataset folder (the authors' `datadir`); created if missing.
    config: the `preprocess` config.
    features_path: optional precomputed audio features (.npy [T, 16, D] or [2T, D]) used instead of
      the built-in log-mel features.
    log: receives one progress line per stage.

  Returns:
    The run's report (also written to preprocess_report.json).

  Raises:
    PreprocessError: unreadable video, no audio track, no face, a clip too short for the audio
      window or the split, or precomputed features of the wrong length.

  The identity is written into a hidden temporary folder in `out_dir` and renamed to `out_dir/0`
  (replacing an older one) only when complete; on any error it is removed, and so is `out_dir` if
  this call created it.
  """
  created = not os.path.isdir(out_dir)
  os.makedirs(out_dir, exist_ok=True)
  try:
    with outputs.folder_in_place(os.path.join(out_dir, '0')) as root:
      return _write_identity(video, root, out_dir, config, features_path, log)
  except BaseException:
    if created:
      with contextlib.suppress(OSError):
        os.rmdir(out_dir)
    raise


def _write_identity(video: str, root: str, out_dir: str, config: ml_collections.ConfigDict,
                    features_path: str | None, log: Callable[[str], None]) -> Report:
  """`preprocess_video` writing the identity into `root` (`out_dir` is named in its config.txt)."""
  seconds = {}
  clock = time.perf_counter()

  def lap(stage: str) -> None:
    nonlocal clock
    now = time.perf_counter()
    seconds[stage] = round(now - clock, 2)
    clock = now
    log(f'{stage}: {seconds[stage]:.1f} s')

  info = media.check_video(video)
  audio = None
  if features_path is None:
    if info.first('Audio') is None:
      raise PreprocessError(f'{video}: the video has no audio track, expected speech to drive the '
                            f'talking head (or pass precomputed features with --audio_features)')
    audio = audio_io.load_audio(video, config.audio.sample_rate)
  ori_dir = os.path.join(root, 'ori_imgs')
  os.makedirs(ori_dir, exist_ok=True)
  lap('audio')

  detector = landmarks_lib.LandmarkDetector()
  found = []
  for k, frame in enumerate(media.iter_frames(video, config.size, config.fps)):
    Image.fromarray(frame).save(os.path.join(ori_dir, f'{k}.jpg'), quality=_JPEG_QUALITY)
    lms = detector(frame)
    if lms is not None:
      np.savetxt(os.path.join(ori_dir, f'{k}.lms'), lms, '%f')
    found.append(lms)
  num_frames = len(found)
  if not num_frames:
    raise PreprocessError(f'{video}: ffmpeg decoded no frames, expected a video')
  lms, detected = landmarks_lib.fill_missing(found, video)
  log(f'{num_frames} frames, {num_frames - int(detected.sum())} without a face (interpolated)')
  lap('frames and landmarks')

  if features_path is None:
    aud = audio_features.compute_audio_features(audio, config.audio.sample_rate, num_frames,
                                                config)
    description = audio_features.describe_log_mel(config)
  else:
    aud = audio_features.load_precomputed_features(features_path, num_frames,
                                                   config.audio.win_size)
    description = {'kind': 'precomputed', 'source': os.path.basename(features_path),
                   'dim': int(aud.shape[-1]), 'win_size': int(aud.shape[1]),
                   'frame_rate': config.fps}
  num_train = int(round(config.train_seconds * config.fps))
  if not 0 < num_train < num_frames:
    raise PreprocessError(f'{video}: {num_frames} frames ({num_frames / config.fps:.2f} s) and '
                          f'train_seconds = {config.train_seconds}: expected a clip longer than '
                          f'the training part so that both splits have frames')
  lap('audio features')

  height = width = config.size
  poses = head_pose.fit_head_poses(lms, height, width, config)
  errors = poses.reprojection_errors(lms)[detected]
  log(f'focal {poses.focal:.0f} px, mean reprojection error {errors.mean():.2f} px')
  lap('head pose')

  person_masks, head_masks = [], []
  for k in range(num_frames):
    person, head = masks.grabcut_masks(_read_rgb(ori_dir, k), lms[k])
    person_masks.append(np.packbits(person))
    head_masks.append(np.packbits(head))
  unpack = lambda bits: np.unpackbits(bits, count=height * width).reshape(height, width).astype(bool)
  plate_ids = range(0, num_frames, _PLATE_STRIDE)
  plate = masks.background_plate([_read_rgb(ori_dir, k) for k in plate_ids],
                                  [unpack(person_masks[k]) for k in plate_ids])
  Image.fromarray(plate).save(os.path.join(root, 'bc.jpg'), quality=_JPEG_QUALITY)
  lap('masks and background')

  os.makedirs(os.path.join(root, 'com_imgs'), exist_ok=True)
  os.makedirs(os.path.join(root, 'torso_imgs'), exist_ok=True)
  sheet_ids = set(np.linspace(0, num_frames - 1, _SHEET_FRAMES).round().astype(int).tolist())
  tiles = []
  for k in range(num_frames):
    image = _read_rgb(ori_dir, k)
    head = unpack(head_masks[k])
    com, torso = masks.composites(image, unpack(person_masks[k]), head, plate, lms[k])
    Image.fromarray(com).save(os.path.join(root, 'com_imgs', f'{k}.jpg'), quality=_JPEG_QUALITY)
    Image.fromarray(torso).save(os.path.join(root, 'torso_imgs', f'{k}.jpg'),
                                quality=_JPEG_QUALITY)
    if k in sheet_ids:
      tiles.append(contact_sheet.draw_frame(image, lms[k], head, poses, k))
  Image.fromarray(contact_sheet.contact_sheet(tiles)).save(
      os.path.join(root, 'contact_sheet.png'))
  lap('composites')

  c2w = poses.camera_to_world()
  mean_depth = float(-poses.translations[:, 2].mean())
  near, far = mean_depth - 0.2, mean_depth + 0.4
  frames = [{'img_id': k, 'aud_id': k, 'transform_matrix': c2w[k].tolist(),
             'face_rect': landmarks_lib.face_rect(lms[k], height, width)}
            for k in range(num_frames)]
  for name, split in (('transforms_train.json', frames[:num_train]),
                      ('transforms_val.json', frames[num_train:])):
    with open(os.path.join(root, name), 'w') as f:
      json.dump({'focal_len': poses.focal, 'cx': width / 2, 'cy': height / 2, 'frames': split}, f,
                indent=2)
  np.save(os.path.join(root, 'aud.npy'), aud.astype(np.float32))
  audio_features.write_description(root, description)
  if audio is not None:
    audio_io.write_wav(os.path.join(root, 'aud.wav'), audio, config.audio.sample_rate)
  np.savez(os.path.join(root, 'track.npz'), landmarks=lms, detected=detected,
           rotations=poses.rotations, translations=poses.translations, focal=poses.focal,
           shape=poses.shape)
  _write_config(root, out_dir, near, far)
  lap('write')

  report = Report(num_frames=num_frames, frames_without_face=int(num_frames - detected.sum()),
                  focal=poses.focal, reprojection_px=float(errors.mean()), near=near, far=far,
                  train_frames=num_train, val_frames=num_frames - num_train,
                  audio_features=f'{description["kind"]} {list(aud.shape)}', seconds=seconds)
  with open(os.path.join(root, 'preprocess_report.json'), 'w') as f:
    json.dump(dataclasses.asdict(report), f, indent=2)
  return report


def _read_rgb(folder: str, index: int) -> np.ndarray:
  with Image.open(os.path.join(folder, f'{index}.jpg')) as image:
    return np.asarray(image.convert('RGB'))


def _write_config(root: str, out_dir: str, near: float, far: float) -> None:
  """The authors' per-identity config.txt (spec §9.2), with this dataset's near and far."""
  name = os.path.basename(os.path.normpath(out_dir))
  lines = [f'expname = {name}', f'expname_finetune = {name}', f'datadir = {out_dir}',
           'basedir = dataset/finetune_models', f'near = {near!r}', f'far = {far!r}',
           'testskip = 1', 'L2loss_weight = 5e-8', 'train_length = 15', 'bc_type=torso_imgs']
  with open(os.path.join(root, 'config.txt'), 'w') as f:
    f.write('\n'.join(lines) + '\n')
