"""The whole pipeline on the trimmed clip: the dataset loads and tracking is sane; bad inputs fail."""

import json
import subprocess

import imageio_ffmpeg
import numpy as np
import pytest
from scipy.spatial import transform

from dfrf_jax.data.dataset import load_dataset
from dfrf_jax.preprocess import landmarks, masks, pipeline
from dfrf_jax.preprocess.errors import PreprocessError
from tests.preprocess.conftest import FIXTURE_VIDEO, TRAIN_SECONDS, small_config


def test_dataset_loads_with_the_authors_layout(processed):
  out, report = processed
  (identity,) = load_dataset(str(out))
  assert (identity.intrinsics.height, identity.intrinsics.width) == (256, 256)
  assert identity.intrinsics.focal == report.focal
  assert len(identity.train) == round(TRAIN_SECONDS * 25) == report.train_frames
  assert len(identity.train) + len(identity.val) == report.num_frames == round(3.6 * 25)
  np.testing.assert_array_equal(identity.train.img_ids, np.arange(len(identity.train)))
  assert identity.aud.shape == (report.num_frames, 16, 29)
  assert identity.near == pytest.approx(report.near) and identity.far - identity.near == pytest.approx(0.6)
  description = json.loads((out / '0' / 'aud_features.json').read_text())
  assert description['kind'] == 'log_mel' and description['dim'] == 29
  assert (out / '0' / 'contact_sheet.png').stat().st_size > 0


def test_tracking_is_accurate_and_smooth(processed):
  out, report = processed
  assert report.frames_without_face == 0
  assert report.reprojection_px < 3.0
  (identity,) = load_dataset(str(out))
  poses = np.concatenate([identity.train.poses, identity.val.poses])
  rotations = transform.Rotation.from_matrix(poses[:, :, :3].astype(np.float64))
  steps = np.degrees((rotations[1:] * rotations[:-1].inv()).magnitude())
  assert np.median(steps) < 1.0
  # The camera looks at the head: the world origin projects near the face centre.
  track = np.load(out / '0' / 'track.npz')
  lms = track['landmarks']
  depth = -track['translations'][:, 2]
  assert np.all((depth > identity.near) & (depth < identity.far))
  assert identity.train.face_rects[0].tolist() == landmarks.face_rect(lms[0], 256, 256)


def test_head_masks_cover_the_landmarks_and_not_the_corners(processed):
  out, _ = processed
  lms = np.load(out / '0' / 'track.npz')['landmarks']
  for k in (0, 45, 89):
    image = pipeline._read_rgb(str(out / '0' / 'ori_imgs'), k)
    person, head = masks.grabcut_masks(image, lms[k])
    cols, rows = np.round(lms[k]).astype(int).T
    assert head[rows, cols].all()
    assert not head[[0, 0, -1, -1], [0, -1, 0, -1]].any()
    assert head.sum() < person.sum()


def _ffmpeg(*args: str) -> None:
  subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), '-y', '-loglevel', 'error', *args], check=True)


def test_video_without_a_face_is_an_error(tmp_path):
  video = tmp_path / 'wall.mp4'
  _ffmpeg('-f', 'lavfi', '-i', 'color=c=gray:s=128x128:d=1', '-f', 'lavfi', '-i',
          'sine=frequency=440:duration=1', '-shortest', str(video))
  config = small_config()
  config.size = 128
  with pytest.raises(PreprocessError, match='wall.mp4: no face found in any of the 25 frames'):
    pipeline.preprocess_video(str(video), str(tmp_path / 'out'), config, log=lambda _: None)


def test_video_without_audio_is_an_error(tmp_path):
  video = tmp_path / 'silent.mp4'
  _ffmpeg('-i', str(FIXTURE_VIDEO), '-an', '-c:v', 'copy', str(video))
  with pytest.raises(PreprocessError, match='silent.mp4: the video has no audio track'):
    pipeline.preprocess_video(str(video), str(tmp_path / 'out'), small_config(), log=lambda _: None)


def test_non_video_file_is_an_error(tmp_path):
  path = tmp_path / 'notes.mp4'
  path.write_text('not a video')
  with pytest.raises(PreprocessError, match='notes.mp4: ffmpeg cannot read this file'):
    pipeline.preprocess_video(str(path), str(tmp_path / 'out'), small_config(), log=lambda _: None)


def test_clip_shorter_than_the_feature_window_is_an_error(tmp_path):
  video = tmp_path / 'short.mp4'
  _ffmpeg('-i', str(FIXTURE_VIDEO), '-t', '0.2', str(video))
  with pytest.raises(PreprocessError, match='shorter than one feature window'):
    pipeline.preprocess_video(str(video), str(tmp_path / 'out'), small_config(), log=lambda _: None)
