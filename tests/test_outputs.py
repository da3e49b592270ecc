"""Outputs written aside and renamed into place: complete or absent, never partial."""

import os

import pytest

from dfrf_jax import outputs


class _Failure(Exception):
  pass


def _tree(folder) -> dict[str, str]:
  return {name: (folder / name).read_text() for name in sorted(os.listdir(folder))}


def test_a_folder_appears_when_complete_and_replaces_the_old_one(tmp_path):
  (tmp_path / 'frames').mkdir()
  (tmp_path / 'frames' / 'stale.png').write_text('old')
  with outputs.folder_in_place(str(tmp_path / 'frames')) as temp:
    assert os.path.dirname(temp) == str(tmp_path) and temp != str(tmp_path / 'frames')
    (tmp_path / 'frames' / 'stale.png').read_text()  # The old folder is intact meanwhile.
    with open(os.path.join(temp, '000.png'), 'w') as f:
      f.write('new')
  assert _tree(tmp_path / 'frames') == {'000.png': 'new'}
  assert sorted(os.listdir(tmp_path)) == ['frames']


@pytest.mark.parametrize('existing', [False, True])
def test_a_failed_folder_leaves_nothing_and_keeps_the_old_one(tmp_path, existing):
  if existing:
    (tmp_path / 'frames').mkdir()
    (tmp_path / 'frames' / '000.png').write_text('old')
  with pytest.raises(_Failure):
    with outputs.folder_in_place(str(tmp_path / 'frames')) as temp:
      with open(os.path.join(temp, '000.png'), 'w') as f:
        f.write('partial')
      raise _Failure()
  assert sorted(os.listdir(tmp_path)) == (['frames'] if existing else [])
  if existing:
    assert _tree(tmp_path / 'frames') == {'000.png': 'old'}


def test_a_file_keeps_its_extension_and_appears_when_complete(tmp_path):
  (tmp_path / 'render.mp4').write_text('old')
  with outputs.file_in_place(str(tmp_path / 'render.mp4')) as temp:
    assert temp.endswith('.mp4') and os.path.dirname(temp) == str(tmp_path)
    with open(temp, 'w') as f:
      f.write('new')
  assert _tree(tmp_path) == {'render.mp4': 'new'}
  with pytest.raises(_Failure):
    with outputs.file_in_place(str(tmp_path / 'render.mp4')) as temp:
      with open(temp, 'w') as f:
        f.write('partial')
      raise _Failure()
  assert _tree(tmp_path) == {'render.mp4': 'new'}
