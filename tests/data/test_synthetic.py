"""Tests of the synthetic dataset writer: the authors' layout, its contents and determinism."""

import dataclasses
import json
import os

import numpy as np
import pytest
from PIL import Image
from scipy.io import wavfile

from dfrf_jax.data import synthetic
from dfrf_jax.data import synthetic_scene as scene
from dfrf_jax.data import synthetic_speech as speech

SPEC = synthetic.SynthSpec(image_size=48, num_frames=40, num_base_ids=2, finetune_name='ft', seed=7)
IDENTITY_FILES = ('transforms_train.json', 'transforms_val.json', 'bc.jpg', 'aud.npy', 'aud.wav',
                  'config.txt', 'synth_meta.json')


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
  out = str(tmp_path_factory.mktemp('synth'))
  return out, synthetic.write_dataset(out, SPEC)


def _identity_dirs(out):
  return [os.path.join(out, 'base', '0'), os.path.join(out, 'base', '1'),
          os.path.join(out, 'ft', '0')]


def _read_json(path):
  with open(path) as f:
    return json.load(f)


def _frames(folder):
  return [f for split in ('train', 'val')
          for f in _read_json(os.path.join(folder, f'transforms_{split}.json'))['frames']]


def _image(path):
  return np.asarray(Image.open(path).convert('RGB'), np.float64) / 255.0


def test_layout_has_every_file(dataset):
  out, summaries = dataset
  assert sorted(os.listdir(out)) == ['base', 'ft']
  assert sorted(os.listdir(os.path.join(out, 'base'))) == ['0', '1']
  assert [s.path for s in summaries] == _identity_dirs(out)
  for folder in _identity_dirs(out):
    for name in IDENTITY_FILES:
      assert os.path.isfile(os.path.join(folder, name)), name
    for sub in ('com_imgs', 'torso_imgs'):
      assert sorted(os.listdir(os.path.join(folder, sub))) == sorted(f'{k}.jpg' for k in range(40))
    with Image.open(os.path.join(folder, 'bc.jpg')) as bc:
      assert bc.size == (48, 48) and bc.mode == 'RGB'


def test_transforms_split_by_time_with_rigid_poses(dataset):
  out, _ = dataset
  camera = scene.default_camera(48)
  for folder in _identity_dirs(out):
    train = _read_json(os.path.join(folder, 'transforms_train.json'))
    val = _read_json(os.path.join(folder, 'transforms_val.json'))
    for meta in (train, val):
      assert (meta['focal_len'], meta['cx'], meta['cy']) == (camera.focal, 24.0, 24.0)
    assert [f['img_id'] for f in train['frames']] == list(range(20))
    assert [f['img_id'] for f in val['frames']] == list(range(20, 40))
    for frame in train['frames'] + val['frames']:
      assert frame['aud_id'] == frame['img_id']
      assert set(frame) == {'img_id', 'aud_id', 'transform_matrix', 'face_rect', 'lip_rect'}
      pose = np.array(frame['transform_matrix'])
      assert pose.shape == (4, 4)
      np.testing.assert_array_equal(pose[3], [0, 0, 0, 1])
      np.testing.assert_allclose(pose[:3, :3].T @ pose[:3, :3], np.eye(3), atol=1e-12)
      assert np.linalg.det(pose[:3, :3]) == pytest.approx(1.0)
      assert all(isinstance(v, int) for v in frame['face_rect'] + frame['lip_rect'])


def test_near_far_are_mean_depth_minus_0_2_plus_0_4(dataset):
  out, summaries = dataset
  for folder, summary in zip(_identity_dirs(out), summaries):
    poses = np.array([f['transform_matrix'] for f in _frames(folder)])
    # The head's depth in the camera is the camera centre's depth in the head frame's camera axes.
    depth = np.mean(np.einsum('nji,nj->ni', poses[:, :3, :3], poses[:, :3, 3])[:, 2])
    with open(os.path.join(folder, 'config.txt')) as f:
      config = dict(line.split(' = ', 1) for line in f.read().splitlines())
    assert float(config['near']) == pytest.approx(depth - 0.2, abs=1e-12)
    assert float(config['far']) == pytest.approx(depth + 0.4, abs=1e-12)
    assert config['bc_type'] == 'torso_imgs'
    assert (summary.near, summary.far) == (float(config['near']), float(config['far']))
    assert summary.num_train == summary.num_val == 20


def test_images_and_rects_match_the_exact_render(dataset):
  out, _ = dataset
  camera = scene.default_camera(48)
  folder = _identity_dirs(out)[2]
  meta = _read_json(os.path.join(folder, 'synth_meta.json'))
  person = synthetic.sample_person(SPEC.seed, synthetic.FINETUNE_ROLE, 0, SPEC.num_frames,
                                  SPEC.train_fraction)
  assert meta['identity'] == json.loads(json.dumps(dataclasses.asdict(person.identity)))
  for frame in _frames(folder)[::7]:
    k = frame['img_id']
    pose = np.array(frame['transform_matrix'])[:3]
    rendered = scene.render_frame(person.identity, pose, meta['mouth_opening'][k], camera)
    com = _image(os.path.join(folder, 'com_imgs', f'{k}.jpg'))
    torso = _image(os.path.join(folder, 'torso_imgs', f'{k}.jpg'))
    assert np.abs(com - rendered.rgb).mean() < 0.015
    assert np.abs(torso - rendered.torso_rgb).mean() < 0.015
    rows, cols = np.nonzero(rendered.label >= scene.FIRST_HEAD_LABEL)
    x, y, w, h = frame['face_rect']
    assert x <= cols.min() and cols.max() <= x + w and y <= rows.min() and rows.max() <= y + h
    assert w * h < 0.8 * 48 * 48
    rows, cols = np.nonzero(np.isin(rendered.label, (scene.LIPS, scene.MOUTH)))
    for rect in (frame['lip_rect'], meta['mouth_box'][k]):
      x, y, w, h = rect
      assert x <= cols.min() and cols.max() <= x + w and y <= rows.min() and rows.max() <= y + h
    assert meta['mouth_pixels'][k] == np.sum(rendered.label == scene.MOUTH)
  bc = _image(os.path.join(folder, 'bc.jpg'))
  assert np.abs(bc - scene.render_plate(person.identity, camera)).mean() < 0.015


def test_audio_files_predict_the_mouth(dataset):
  out, _ = dataset
  features, openings, pixels = [], [], []
  for folder in _identity_dirs(out):
    aud = np.load(os.path.join(folder, 'aud.npy'))
    assert aud.shape == (40, 16, 29) and aud.dtype == np.float32
    rate, wav = wavfile.read(os.path.join(folder, 'aud.wav'))
    assert rate == 16000 and wav.dtype == np.int16 and wav.shape == (40 * 640,)
    meta = _read_json(os.path.join(folder, 'synth_meta.json'))
    # Window row 8 describes the frame's own time.
    features.append(np.concatenate([aud[:, 8], np.ones((40, 1))], 1))
    openings.append(np.array(meta['mouth_opening']))
    pixels.append(np.array(meta['mouth_pixels'], np.float64))
  # A linear readout fitted on the base identities ...
  weights, *_ = np.linalg.lstsq(np.concatenate(features[:2]), np.concatenate(openings[:2]),
                                rcond=None)
  predicted = features[2] @ weights
  # ... predicts the held-out identity's mouth opening and the mouth pixels rendered in its images.
  residual = predicted - openings[2]
  assert 1.0 - np.sum(residual**2) / np.sum((openings[2] - openings[2].mean())**2) > 0.95
  assert np.corrcoef(predicted, pixels[2])[0, 1]**2 > 0.85


def test_same_seed_same_bytes_other_seed_other_people(dataset, tmp_path):
  out, _ = dataset
  again = str(tmp_path / 'again')
  synthetic.write_dataset(again, SPEC)
  for name in ('aud.npy', 'transforms_train.json', 'com_imgs/13.jpg', 'torso_imgs/31.jpg', 'bc.jpg',
               'aud.wav'):
    with open(os.path.join(out, 'base', '1', name), 'rb') as a:
      with open(os.path.join(again, 'base', '1', name), 'rb') as b:
        assert a.read() == b.read(), name
  other = str(tmp_path / 'other')
  synthetic.write_dataset(other, synthetic.SynthSpec(image_size=48, num_frames=40, num_base_ids=1,
                                                     finetune_name='ft', seed=8))
  assert np.abs(_image(os.path.join(out, 'base/0/com_imgs/0.jpg'))
                - _image(os.path.join(other, 'base/0/com_imgs/0.jpg'))).mean() > 0.02
  metas = [_read_json(os.path.join(folder, 'synth_meta.json'))['identity']
           for folder in _identity_dirs(out)]
  assert metas[0] != metas[1] != metas[2] != metas[0]


def test_existing_output_needs_overwrite(tmp_path):
  spec = synthetic.SynthSpec(image_size=16, num_frames=2, num_base_ids=2, finetune_name='ft')
  synthetic.write_dataset(str(tmp_path), spec)
  with pytest.raises(FileExistsError, match='overwrite'):
    synthetic.write_dataset(str(tmp_path), spec)
  smaller = synthetic.SynthSpec(image_size=16, num_frames=2, num_base_ids=1, finetune_name='ft')
  synthetic.write_dataset(str(tmp_path), smaller, overwrite=True)
  assert os.listdir(tmp_path / 'base') == ['0']


@pytest.mark.parametrize('kwargs, message', [
    ({'num_frames': 1}, 'num_frames'),
    ({'train_fraction': 0.05, 'num_frames': 10}, 'train_fraction'),
    ({'train_fraction': 1.0, 'num_frames': 10}, 'train_fraction'),
    ({'finetune_name': 'base'}, 'finetune_name'),
    ({'num_base_ids': -1}, 'num_base_ids'),
    ({'jpeg_quality': 0}, 'jpeg_quality'),
])
def test_bad_spec_raises(kwargs, message):
  with pytest.raises(ValueError, match=message):
    synthetic.SynthSpec(**kwargs)


@pytest.mark.parametrize('seed', range(4))
def test_head_pose_does_not_follow_the_mouth(seed):
  num_frames, num_train = 100, 50
  person = synthetic.sample_person(seed, synthetic.FINETUNE_ROLE, 0, num_frames)
  times = np.arange(num_frames) / speech.FRAME_RATE
  opening, _ = speech.mouth_opening(person.utterance, times)
  jitter = scene.pose_jitter(person.motion, times)
  assert np.all(np.std(jitter, axis=0) > 0)
  for frames in (slice(None), slice(0, num_train), slice(num_train, None)):
    for channel in range(6):
      r = np.corrcoef(jitter[frames, channel], opening[frames])[0, 1]
      assert abs(r) < 0.2, (seed, frames, channel, r)


def test_bounding_rect_is_inclusive_and_clipped():
  rows, cols = np.nonzero(np.pad(np.ones((3, 4), bool), ((2, 5), (3, 5))))   # rows 2-4, cols 3-6
  assert synthetic.bounding_rect(rows, cols, 10, 12, 1) == [2, 1, 5, 4]
  corner_rows, corner_cols = np.append(rows, 9), np.append(cols, 11)
  assert synthetic.bounding_rect(corner_rows, corner_cols, 10, 12, 2) == [1, 0, 10, 9]
  floats = np.array([2.5, 3.2]), np.array([-1.5, 4.1])
  assert synthetic.bounding_rect(*floats, 10, 12, 0) == [0, 2, 5, 2]
  with pytest.raises(ValueError, match='empty'):
    synthetic.bounding_rect(np.array([]), np.array([]), 4, 4, 1)
