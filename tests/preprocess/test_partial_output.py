"""dfrf-preprocess leaves no partial dataset when it fails, and keeps an older complete one."""

import os

import pytest

from dfrf_jax.preprocess import landmarks, pipeline
from dfrf_jax.preprocess.errors import PreprocessError
from tests.preprocess.conftest import FIXTURE_VIDEO, small_config


class _FailingDetector:
  """Finds no face in two frames (written meanwhile), then fails."""

  def __init__(self):
    self.calls = 0

  def __call__(self, frame):
    self.calls += 1
    if self.calls > 2:
      raise PreprocessError('landmarks failed')
    return None


@pytest.fixture
def failing_landmarks(monkeypatch) -> None:
  monkeypatch.setattr(landmarks, 'LandmarkDetector', _FailingDetector)


def test_a_failed_run_leaves_no_output_folder(tmp_path, failing_landmarks):
  out = tmp_path / 'out'
  with pytest.raises(PreprocessError, match='landmarks failed'):
    pipeline.preprocess_video(str(FIXTURE_VIDEO), str(out), small_config(), log=lambda _: None)
  assert os.listdir(tmp_path) == []


def test_a_failed_run_keeps_the_older_dataset(tmp_path, failing_landmarks):
  old = tmp_path / 'out' / '0'
  old.mkdir(parents=True)
  (old / 'config.txt').write_text('near = 1\nfar = 2\n')
  with pytest.raises(PreprocessError, match='landmarks failed'):
    pipeline.preprocess_video(str(FIXTURE_VIDEO), str(tmp_path / 'out'), small_config(),
                              log=lambda _: None)
  assert os.listdir(tmp_path / 'out') == ['0'] and os.listdir(old) == ['config.txt']
