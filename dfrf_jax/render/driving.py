"""Audio feature windows [T, 16, D] that drive an identity with new audio, made as its aud.npy was."""

import json
import os

import ml_collections
import numpy as np

from dfrf_jax.data import audio_io, npy_file
from dfrf_jax.data.dataset import Identity
from dfrf_jax.preprocess import audio_features
from dfrf_jax.preprocess.errors import PreprocessError


def driving_windows(identity: Identity, config: ml_collections.ConfigDict, audio: str,
                    fps: float) -> np.ndarray:
  """Feature windows [T, 16, D] for new audio, computed the way the dataset's aud.npy was.

  Args:
    identity: the identity to drive (its aud_features.json says how its features were made).
    config: the run config (`model.win_size`, the `preprocess` extractor).
    audio: precomputed features (.npy, [T, 16, D] windows or [2T, D] rows, e.g. another identity's
      aud.npy) or any audio/video file ffmpeg reads.
    fps: video frame rate; a media file of S seconds gives round(S * fps) windows.

  Raises:
    PreprocessError: features that are not a .npy array or not of the model's feature width
      (`model.aud_feature_dim`); a media file for a dataset without aud_features.json (not made by
      dfrf-preprocess), or whose features were made by another extractor than `config.preprocess`
      describes.
  """
  if audio.endswith('.npy'):
    return _precomputed_windows(audio, config.model.win_size, config.model.aud_feature_dim)
  description_path = os.path.join(identity.root, audio_features.FEATURES_FILE)
  if not os.path.exists(description_path):
    raise PreprocessError(f'{description_path}: missing. The features of this dataset were not '
                          'made by dfrf-preprocess, so they cannot be computed from a media file '
                          'here; pass precomputed features (--audio=features.npy) and '
                          '--audio_track=FILE')
  with open(description_path) as f:
    description = json.load(f)
  expected = audio_features.describe_log_mel(config.preprocess)
  if description != expected:
    raise PreprocessError(f'{description_path}: the dataset\'s features {description} differ from '
                          f'the extractor configured in this run ({expected})')
  samples = audio_io.load_audio(audio, config.preprocess.audio.sample_rate)
  num_frames = int(round(len(samples) / config.preprocess.audio.sample_rate * fps))
  return audio_features.compute_audio_features(samples, config.preprocess.audio.sample_rate,
                                               num_frames, config.preprocess)


def _precomputed_windows(path: str, win_size: int, feature_dim: int) -> np.ndarray:
  """Windows [T, win_size, feature_dim] of a .npy of windows [T, win_size, D] or rows [2T, D].

  Raises:
    PreprocessError: not a .npy array, of another rank, window size or feature width than the
      model's, or non-finite.
  """
  expected = f'[T, {win_size}, {feature_dim}] windows or [2T, {feature_dim}] rows'
  features = npy_file.load_npy(path, PreprocessError, f'audio features ({expected})')
  if features.ndim not in (2, 3) or features.shape[-1] != feature_dim:
    raise PreprocessError(f'{path}: shape {features.shape}, expected {expected} '
                          f'(model.aud_feature_dim = {feature_dim} of the trained run)')
  num_frames = len(features) if features.ndim == 3 else len(features) // 2
  return audio_features.load_precomputed_features(path, num_frames, win_size)
