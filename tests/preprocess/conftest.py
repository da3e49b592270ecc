"""The trimmed test clip and one shared run of the whole pipeline on it."""

import pathlib

import pytest

from dfrf_jax.config import default_config
from dfrf_jax.preprocess import pipeline

FIXTURE_VIDEO = (pathlib.Path(__file__).resolve().parents[1] / 'fixtures' / 'video'
                 / 'french_10s_3.6s_256.mp4')
TRAIN_SECONDS = 2.5


def small_config():
  """Preprocess config for the 256 px test clip."""
  config = default_config().preprocess
  config.size = 256
  config.train_seconds = TRAIN_SECONDS
  return config


@pytest.fixture(scope='session')
def processed(tmp_path_factory) -> tuple[pathlib.Path, pipeline.Report]:
  """(dataset folder, report) of the pipeline run on the fixture clip."""
  out = tmp_path_factory.mktemp('dataset') / 'french'
  report = pipeline.preprocess_video(str(FIXTURE_VIDEO), str(out), small_config(),
                                     log=lambda _: None)
  return out, report
