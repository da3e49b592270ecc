"""Each way a dataset can be broken gives a DatasetError naming the file, field and expectation."""

import json
import pathlib
import re
import shutil
from typing import Any, Callable

import numpy as np
import pytest
from PIL import Image

from dfrf_jax.data import dataset
from dfrf_jax.data.errors import DatasetError
from tests.data.conftest import FIXTURE_IDENTITY


@pytest.fixture
def root(tmp_path: pathlib.Path) -> pathlib.Path:
  """A writable copy of the fixture identity."""
  path = tmp_path / 'id'
  shutil.copytree(FIXTURE_IDENTITY, path)
  return path


def _edit_json(path: pathlib.Path, edit: Callable[[dict[str, Any]], None]) -> None:
  meta = json.loads(path.read_text())
  edit(meta)
  path.write_text(json.dumps(meta))


def _edit_frame(root: pathlib.Path, index: int, edit: Callable[[dict[str, Any]], None]) -> None:
  _edit_json(root / 'transforms_train.json', lambda meta: edit(meta['frames'][index]))


def _load_fails(root: pathlib.Path, match: str) -> None:
  with pytest.raises(DatasetError, match=match):
    dataset.load_identity(str(root))


def test_dataset_error_is_a_value_error():
  assert issubclass(DatasetError, ValueError)


def test_missing_folder(tmp_path):
  with pytest.raises(DatasetError, match='nowhere: identity folder does not exist'):
    dataset.load_identity(str(tmp_path / 'nowhere'))


@pytest.mark.parametrize('relative', ['com_imgs/5.jpg', 'torso_imgs/17.jpg', 'bc.jpg'])
def test_missing_image(root, relative):
  (root / relative).unlink()
  _load_fails(root, f'{relative}: missing image')


def test_unreadable_image(root):
  (root / 'com_imgs' / '3.jpg').write_bytes(b'not a jpeg')
  _load_fails(root, 'com_imgs/3.jpg: not a readable image')


def test_aud_id_beyond_aud_npy(root):
  _edit_frame(root, 3, lambda frame: frame.update(aud_id=25))
  _load_fails(root, r'transforms_train.json: frames\[3\].aud_id = 25 is beyond .*aud.npy, which '
              r'has 24 windows')


def test_aud_id_one_past_the_end_is_clamped(root):
  _edit_frame(root, 3, lambda frame: frame.update(aud_id=24))
  identity = dataset.load_identity(str(root))
  np.testing.assert_array_equal(dataset.split_aud_windows(identity, identity.train)[3],
                                identity.aud[23])


def test_negative_aud_id(root):
  _edit_frame(root, 0, lambda frame: frame.update(aud_id=-1))
  _load_fails(root, r'frames\[0\].aud_id: expected an integer >= 0, got -1')


def test_malformed_json(root):
  path = root / 'transforms_train.json'
  path.write_text(path.read_text().replace('"cx"', "'cx'", 1))
  with pytest.raises(DatasetError, match='transforms_train.json: invalid JSON at line 3 column 3: '
                     'Expecting property name') as error:
    dataset.load_identity(str(root))
  assert 'truncated' not in str(error.value)


def test_truncated_json(root):
  path = root / 'transforms_val.json'
  text = path.read_text()
  path.write_text(text[:len(text) // 2])
  _load_fails(root, r'transforms_val.json: invalid JSON .*truncated\?')


def test_json_not_an_object(root):
  (root / 'transforms_train.json').write_text('[1, 2]')
  _load_fails(root, 'transforms_train.json: expected a JSON object')


@pytest.mark.parametrize('key', ['focal_len', 'cx', 'cy', 'frames'])
def test_missing_top_level_key(root, key):
  _edit_json(root / 'transforms_train.json', lambda meta: meta.pop(key))
  _load_fails(root, f"transforms_train.json: missing key '{key}'")


@pytest.mark.parametrize('key', ['img_id', 'aud_id', 'transform_matrix', 'face_rect'])
def test_missing_frame_key(root, key):
  _edit_frame(root, 6, lambda frame: frame.pop(key))
  _load_fails(root, rf"transforms_train.json: frames\[6\]: missing key '{key}'")


def test_bad_focal(root):
  _edit_json(root / 'transforms_train.json', lambda meta: meta.update(focal_len=-3.0))
  _load_fails(root, 'transforms_train.json: focal_len: expected a positive number, got -3.0')


def test_val_intrinsics_differ(root):
  _edit_json(root / 'transforms_val.json', lambda meta: meta.update(cx=31.0))
  _load_fails(root, r'transforms_val.json: \(focal_len, cx, cy\) = \(140.8, 31.0, 32.0\), expected')


def test_empty_frame_list(root):
  _edit_json(root / 'transforms_train.json', lambda meta: meta.update(frames=[]))
  _load_fails(root, 'transforms_train.json: frames must be a non-empty list')


@pytest.mark.parametrize('key', ['img_id', 'aud_id'])
@pytest.mark.parametrize('value', [2.5, '2', '../x', '../../etc/passwd', True, None, [2]])
def test_non_integer_ids(root, key, value):
  # Image paths are built from img_id: a string (a path piece) must never reach them.
  _edit_frame(root, 2, lambda frame: frame.update({key: value}))
  _load_fails(root, rf'transforms_train.json: frames\[2\].{key}: expected an integer, got '
              f'{re.escape(repr(value))}')


@pytest.mark.parametrize('rect', [[1, 2, 3], [1, 2, 3, -4], 'face'])
def test_bad_face_rect(root, rect):
  _edit_frame(root, 1, lambda frame: frame.update(face_rect=rect))
  _load_fails(root, r'frames\[1\].face_rect: expected')


def _set_matrix(root: pathlib.Path, edit: Callable[[np.ndarray], np.ndarray]) -> None:
  def apply(frame):
    frame['transform_matrix'] = edit(np.array(frame['transform_matrix'])).tolist()
  _edit_frame(root, 4, apply)


@pytest.mark.parametrize('edit, match', [
    (lambda m: m[:3], r'expected a 4x4 matrix, got shape \(3, 4\)'),
    (lambda m: m[:, :3], r'expected a 4x4 matrix, got shape \(4, 3\)'),
    (lambda m: np.where(np.eye(4, dtype=bool), np.nan, m), 'NaN or inf'),
    (lambda m: np.concatenate([m[:3], [[0.0, 0.0, 0.1, 1.0]]]),
     r'last row is .*expected \[0, 0, 0, 1\]'),
    (lambda m: np.concatenate([m[:3, :3] * 1.01, m[:3, 3:]], 1).tolist() + [[0, 0, 0, 1]],
     'rotation is not orthonormal with det \\+1'),
    (lambda m: np.concatenate([-m[:3, :3], m[:3, 3:]], 1).tolist() + [[0, 0, 0, 1]],
     r'rotation is not orthonormal with det \+1 .*det = -1'),
])
def test_bad_transform_matrix(root, edit, match):
  _set_matrix(root, lambda m: np.asarray(edit(m), dtype=np.float64))
  _load_fails(root, rf'transforms_train.json: frames\[4\].transform_matrix: {match}')


def test_ragged_transform_matrix(root):
  _edit_frame(root, 4, lambda frame: frame['transform_matrix'][1].pop())
  _load_fails(root, r'frames\[4\].transform_matrix: expected a 4x4 matrix')


def test_image_of_another_size(root):
  Image.new('RGB', (32, 48)).save(root / 'torso_imgs' / '9.jpg')
  _load_fails(root, r'torso_imgs/9.jpg: image is 48x32 \(HxW\), expected 64x64 like .*bc.jpg')


def test_plate_of_another_size(root):
  Image.new('RGB', (64, 60)).save(root / 'bc.jpg')
  _load_fails(root, r'com_imgs/0.jpg: image is 64x64 \(HxW\), expected 60x64')


def test_lazy_load_checks_size_and_mode(root):
  identity = dataset.load_identity(str(root))
  Image.new('RGB', (32, 32)).save(root / 'com_imgs' / '7.jpg')
  with pytest.raises(DatasetError, match=r'com_imgs/7.jpg: image is 32x32 \(HxW\), expected 64x64'):
    identity.image(identity.train, 7)
  Image.new('L', (64, 64)).save(root / 'com_imgs' / '8.jpg')
  with pytest.raises(DatasetError, match="com_imgs/8.jpg: image mode is 'L', expected 8-bit RGB"):
    identity.image(identity.train, 8)


@pytest.mark.parametrize('value', [np.nan, np.inf])
def test_non_finite_audio(root, value):
  aud = np.load(root / 'aud.npy')
  aud[5, 3, 2] = value
  aud[9, 0, 0] = value
  np.save(root / 'aud.npy', aud)
  _load_fails(root, r'aud.npy: NaN or inf in the windows of frames \[5, 9\]')


@pytest.mark.parametrize('shape', [(24, 464), (24, 16, 30), (24, 8, 29), (0, 16, 29)])
def test_audio_of_wrong_shape(root, shape):
  np.save(root / 'aud.npy', np.zeros(shape, np.float32))
  _load_fails(root, rf'aud.npy: shape \({shape[0]}, .*expected \[F, 16, 29\]')


def test_audio_of_wrong_dtype(root):
  np.save(root / 'aud.npy', np.zeros((24, 16, 29), np.int32))
  _load_fails(root, 'aud.npy: dtype int32, expected')


def test_missing_audio(root):
  (root / 'aud.npy').unlink()
  _load_fails(root, r'aud.npy: cannot read audio feature windows \[F, 16, 29\] .*\(No such file')


def test_audio_of_garbage_bytes_is_no_npy_file(root):
  (root / 'aud.npy').write_bytes(b'\x00garbage' * 100)
  _load_fails(root, r'aud.npy: not a .npy array file \(no NUMPY header\); expected audio feature')


def test_truncated_audio_npy(root):
  data = (root / 'aud.npy').read_bytes()
  (root / 'aud.npy').write_bytes(data[:len(data) // 2])
  _load_fails(root, r'aud.npy: damaged .npy file \(.*\); expected audio feature windows')


@pytest.mark.parametrize('lines, match', [
    ('near = 0.5\n', r"sets only \['near'\], expected both near and far"),
    ('near = close\nfar = 1.0\n', "line 1: near = 'close', expected a number"),
    ('near = 1.5\nfar = 1.0\n', 'near = 1.5, far = 1.0, expected finite 0 <= near < far'),
])
def test_bad_near_far(root, lines, match):
  (root / 'config.txt').write_text('expname = x\n' + lines.replace('line 1', 'line 2'))
  _load_fails(root, 'config.txt: ' + match.replace('line 1', 'line 2'))


@pytest.mark.parametrize('names', [['0', '2'], ['1'], ['0', 'notes.txt'], ['0', 'x'], []])
def test_misnamed_identity_folders(tmp_path, names):
  base = tmp_path / 'base'
  base.mkdir()
  for name in names:
    if name.endswith('.txt'):
      (base / name).write_text('hello')
    else:
      shutil.copytree(FIXTURE_IDENTITY, base / name)
  with pytest.raises(DatasetError, match='base: expected only identity folders named 0..K-1'):
    dataset.load_dataset(str(base))


def test_identity_folder_given_as_dataset(root):
  with pytest.raises(DatasetError, match='looks like an identity folder itself; pass its parent'):
    dataset.load_dataset(str(root))


def test_identities_of_different_sizes(tmp_path):
  base = tmp_path / 'base'
  shutil.copytree(FIXTURE_IDENTITY, base / '0')
  small = base / '1'
  small.mkdir()
  (small / 'com_imgs').mkdir()
  (small / 'torso_imgs').mkdir()
  for name in ('transforms_train.json', 'transforms_val.json', 'aud.npy'):
    shutil.copy(FIXTURE_IDENTITY / name, small / name)
  for path in FIXTURE_IDENTITY.glob('*/*.jpg'):
    if path.parent.name in ('com_imgs', 'torso_imgs'):
      Image.open(path).resize((32, 32)).save(small / path.parent.name / path.name)
  Image.open(FIXTURE_IDENTITY / 'bc.jpg').resize((32, 32)).save(small / 'bc.jpg')
  with pytest.raises(DatasetError, match=r'1/bc.jpg: image size 32x32 \(HxW\), expected 64x64'):
    dataset.load_dataset(str(base))


def test_lip_rects_are_read():
  identity = dataset.load_identity(str(FIXTURE_IDENTITY))
  meta = json.loads((FIXTURE_IDENTITY / 'transforms_train.json').read_text())
  np.testing.assert_array_equal(identity.train.lip_rects,
                                [frame['lip_rect'] for frame in meta['frames']])


def test_lip_rect_on_some_frames_only(root):
  _edit_frame(root, 3, lambda frame: frame.pop('lip_rect'))
  _load_fails(root, r"transforms_train.json: frames\[3\]: missing key 'lip_rect' \(other frames")


def test_no_lip_rects_at_all_is_fine(root):
  _edit_json(root / 'transforms_train.json',
             lambda meta: [frame.pop('lip_rect') for frame in meta['frames']])
  assert dataset.load_identity(str(root)).train.lip_rects is None


@pytest.mark.parametrize('rect', [[1, 2, 3], [1, 2, 3, -4], 'lips'])
def test_bad_lip_rect(root, rect):
  _edit_frame(root, 1, lambda frame: frame.update(lip_rect=rect))
  _load_fails(root, r'frames\[1\].lip_rect: expected')
