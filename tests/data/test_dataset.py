"""Loading the fixture dataset in the authors' layout, single- and multi-identity."""

import json
import shutil

import numpy as np
import pytest

from dfrf_jax.data import dataset
from tests.data.conftest import FIXTURE_DATASET, FIXTURE_IDENTITY

# JPEG decoders may round differently by one 8-bit level.
_PIXEL_ATOL = 1.0 / 255.0 + 1e-7


@pytest.fixture(scope='module')
def identity() -> dataset.Identity:
  return dataset.load_identity(str(FIXTURE_IDENTITY))


def _json_frames(name: str) -> list[dict]:
  with open(FIXTURE_IDENTITY / name) as f:
    return json.load(f)['frames']


def test_intrinsics_and_bounds(identity):
  assert identity.intrinsics == dataset.Intrinsics(focal=140.8, cx=32.0, cy=32.0, height=64,
                                                   width=64)
  assert identity.near == 0.5983765306624147
  assert identity.far == 1.1983765306624146
  assert identity.root == str(FIXTURE_IDENTITY)


def test_splits_match_the_json(identity):
  for split, name in ((identity.train, 'transforms_train.json'),
                      (identity.val, 'transforms_val.json')):
    frames = _json_frames(name)
    assert len(split) == len(frames) == 12
    assert split.source == str(FIXTURE_IDENTITY / name)
    np.testing.assert_array_equal(split.img_ids, [f['img_id'] for f in frames])
    np.testing.assert_array_equal(split.aud_ids, [f['aud_id'] for f in frames])
    np.testing.assert_array_equal(split.face_rects, [f['face_rect'] for f in frames])
    assert split.poses.shape == (12, 3, 4) and split.poses.dtype == np.float32
    for pose, frame in zip(split.poses, frames):
      np.testing.assert_array_equal(pose, np.array(frame['transform_matrix'], np.float32)[:3])
    assert split.image_paths[0] == str(FIXTURE_IDENTITY / 'com_imgs' / f'{frames[0]["img_id"]}.jpg')
    assert split.bg_paths[0] == str(FIXTURE_IDENTITY / 'torso_imgs' / f'{frames[0]["img_id"]}.jpg')
  np.testing.assert_array_equal(identity.train.img_ids, np.arange(12))
  np.testing.assert_array_equal(identity.val.img_ids, np.arange(12, 24))


def test_arrays_are_read_only(identity):
  with pytest.raises(ValueError):
    identity.train.poses[0, 0, 0] = 2.0
  with pytest.raises(ValueError):
    identity.aud[0] = 0.0


def test_images_match_the_authors_reads(identity, parity):
  target = identity.image(identity.train, 2)
  assert target.shape == (64, 64, 3) and target.dtype == np.float32
  assert 0.0 <= target.min() and target.max() <= 1.0
  np.testing.assert_allclose(target, parity['target_rgb'], rtol=0, atol=_PIXEL_ATOL)
  np.testing.assert_allclose(identity.background(identity.train, 2), parity['target_torso'],
                             rtol=0, atol=_PIXEL_ATOL)
  np.testing.assert_array_equal(identity.train.poses[2], parity['target_pose'])
  images = identity.images(identity.train)
  assert images.shape == (12, 64, 64, 3)
  np.testing.assert_allclose(images[parity['ref_ids']], parity['ref_images'], rtol=0,
                             atol=_PIXEL_ATOL)
  np.testing.assert_array_equal(identity.train.poses[parity['ref_ids']], parity['ref_poses'])
  backgrounds = identity.backgrounds(identity.val)
  assert backgrounds.shape == (12, 64, 64, 3)
  np.testing.assert_array_equal(backgrounds[3], identity.background(identity.val, 3))


def test_audio_windows_follow_aud_ids(identity, parity):
  raw = np.load(FIXTURE_IDENTITY / 'aud.npy')
  assert identity.aud.shape == (24, 16, 29) and identity.aud.dtype == np.float32
  np.testing.assert_array_equal(identity.aud, raw.astype(np.float32))
  np.testing.assert_array_equal(dataset.aud_window(identity, 5), raw[5])
  # The authors clamp: aud[min(aud_id, F - 1)].
  np.testing.assert_array_equal(dataset.aud_window(identity, 24), raw[23])
  np.testing.assert_array_equal(dataset.split_aud_windows(identity, identity.train),
                                parity['audnet_in'])
  np.testing.assert_array_equal(dataset.split_aud_windows(identity, identity.val), raw[12:24])


def test_other_background_folder_and_no_config(tmp_path):
  root = tmp_path / 'id'
  shutil.copytree(FIXTURE_IDENTITY, root)
  (root / 'config.txt').unlink()
  identity = dataset.load_identity(str(root), bc_type='torso_bc_imgs')
  assert identity.near is None and identity.far is None
  assert identity.train.bg_paths[4] == str(root / 'torso_bc_imgs' / '4.jpg')
  assert identity.background(identity.train, 4).shape == (64, 64, 3)


def test_single_identity_dataset_is_one_identity():
  identities = dataset.load_dataset(str(FIXTURE_DATASET))
  assert len(identities) == 1
  assert identities[0].root == str(FIXTURE_IDENTITY)
  assert len(identities[0].train) == 12


def test_multi_identity_layout(tmp_path):
  base = tmp_path / 'base'
  for k in range(3):
    shutil.copytree(FIXTURE_IDENTITY, base / str(k))
  # Make identity 2 distinguishable: drop its last train frame.
  path = base / '2' / 'transforms_train.json'
  meta = json.loads(path.read_text())
  meta['frames'] = meta['frames'][:-1]
  path.write_text(json.dumps(meta))
  identities = dataset.load_dataset(str(base))
  assert [i.root for i in identities] == [str(base / str(k)) for k in range(3)]
  assert [len(i.train) for i in identities] == [12, 12, 11]
  np.testing.assert_array_equal(identities[1].train.poses, identities[0].train.poses)
