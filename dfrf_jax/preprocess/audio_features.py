"""Per-frame audio feature windows [T, 16, D]: model-free log-mel filterbanks, or precomputed features.

Alignment (the same as the authors' DeepSpeech windows, §2.2 of the spec, generalised to any fps):
feature rows are computed at 2 * fps rows per second (50 Hz at 25 fps); row r is the analysis window
centred on time r / (2 * fps). Window k, the one of video frame k, stacks rows 2k - 8 ... 2k + 7
(win_size = 16 rows, 0.32 s at 25 fps, centred on t = k / fps); rows before the start or past the end
of the audio are zeros. There is exactly one window per video frame.

Log-mel rows: a Hann window of `window_seconds`, the power spectrum of a `fft_size`-point FFT, `num_mels`
triangular filters evenly spaced on the HTK mel scale between `min_hz` and `max_hz`, then the natural
log. The whole clip is standardised with one mean and one standard deviation (as the authors
standardise their MFCC input), so a zero row (the padding) reads as average speech energy.
"""

import json
import math
import os

import chex
import ml_collections
import numpy as np
from scipy import signal

from dfrf_jax.data import npy_file
from dfrf_jax.preprocess.errors import PreprocessError

FEATURES_FILE = 'aud_features.json'
# Rows at the rate 2 * fps that a precomputed [R, D] file may differ from 2 * num_frames by.
ROW_TOLERANCE = 2
_LOG_FLOOR = 1e-10


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
  """HTK mel scale: 2595 log10(1 + hz / 700)."""
  return 2595.0 * np.log10(1.0 + np.asarray(hz, np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
  """Inverse of `hz_to_mel`."""
  return 700.0 * (10.0 ** (np.asarray(mel, np.float64) / 2595.0) - 1.0)


def mel_filterbank(num_mels: int, fft_size: int, sample_rate: int, min_hz: float,
                   max_hz: float) -> np.ndarray:
  """Triangular mel filters over the rfft bins: [num_mels, fft_size // 2 + 1] float64, peak 1."""
  if not 0.0 <= min_hz < max_hz <= sample_rate / 2:
    raise PreprocessError(f'mel band edges {min_hz}..{max_hz} Hz, expected 0 <= min_hz < max_hz '
                          f'<= {sample_rate / 2} (half the sample rate)')
  edges = mel_to_hz(np.linspace(hz_to_mel(min_hz), hz_to_mel(max_hz), num_mels + 2))
  bins = np.fft.rfftfreq(fft_size, 1.0 / sample_rate)
  lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
  rising = (bins - lower) / (centre - lower)
  falling = (upper - bins) / (upper - centre)
  return np.maximum(0.0, np.minimum(rising, falling))


def log_mel_rows(samples: np.ndarray, sample_rate: int, row_rate: float,
                 config: ml_collections.ConfigDict) -> np.ndarray:
  """Log-mel rows centred on t = r / row_rate for r = 0 .. ceil(duration * row_rate) - 1.

  Args:
    samples: [S] mono samples at `sample_rate`.
    sample_rate: Hz.
    row_rate: rows per second.
    config: the `preprocess.audio` config (window_seconds, fft_size, num_mels, min_hz, max_hz).

  Returns:
    [R, num_mels] float32 natural-log mel energies (not standardised).
  """
  chex.assert_rank(samples, 1)
  window = int(round(config.window_seconds * sample_rate))
  if window > config.fft_size:
    raise PreprocessError(f'audio window of {window} samples is longer than fft_size = '
                          f'{config.fft_size}')
  num_rows = math.ceil(len(samples) / sample_rate * row_rate)
  starts = np.round(np.arange(num_rows) * sample_rate / row_rate).astype(np.int64)
  padded = np.pad(np.asarray(samples, np.float64), (window // 2, window))
  frames = padded[starts[:, None] + np.arange(window)] * np.hanning(window)
  power = np.abs(np.fft.rfft(frames, config.fft_size)) ** 2
  bank = mel_filterbank(config.num_mels, config.fft_size, sample_rate, config.min_hz,
                        config.max_hz)
  return np.log(np.maximum(power @ bank.T, _LOG_FLOOR)).astype(np.float32)


def frame_windows(rows: np.ndarray, num_frames: int, win_size: int = 16) -> np.ndarray:
  """Cuts one window per video frame: window k stacks rows 2k - win/2 ... 2k + win/2 - 1.

  Args:
    rows: [R, D] feature rows at twice the video frame rate.
    num_frames: T, the number of video frames.
    win_size: rows per window, even.

  Returns:
    [T, win_size, D] float32; rows outside [0, R) are zeros.
  """
  chex.assert_rank(rows, 2)
  positions = 2 * np.arange(num_frames)[:, None] - win_size // 2 + np.arange(win_size)
  valid = (positions >= 0) & (positions < len(rows))
  gathered = rows[np.clip(positions, 0, len(rows) - 1)]
  return np.where(valid[..., None], gathered, 0.0).astype(np.float32)


def compute_audio_features(samples: np.ndarray, sample_rate: int, num_frames: int,
                           config: ml_collections.ConfigDict) -> np.ndarray:
  """Standardised log-mel windows of a clip, one per video frame (see the module docstring).

  Args:
    samples: [S] mono samples in [-1, 1] at `sample_rate` (resampled to config.audio.sample_rate).
    sample_rate: Hz.
    num_frames: T, the number of video frames at config.fps to produce windows for.
    config: the `preprocess` config (fps and the `audio` group).

  Returns:
    [T, config.audio.win_size, config.audio.num_mels] float32.

  Raises:
    PreprocessError: the audio is shorter than one window.
  """
  chex.assert_rank(samples, 1)
  audio = config.audio
  if sample_rate != audio.sample_rate:
    common = math.gcd(int(sample_rate), int(audio.sample_rate))
    samples = signal.resample_poly(samples, audio.sample_rate // common, sample_rate // common)
  row_rate = 2.0 * config.fps
  min_seconds = audio.win_size / row_rate
  duration = len(samples) / audio.sample_rate
  if duration < min_seconds:
    raise PreprocessError(f'the audio lasts {duration:.3f} s, shorter than one feature window '
                          f'({audio.win_size} rows at {row_rate:g} Hz = {min_seconds:.2f} s)')
  rows = log_mel_rows(samples, audio.sample_rate, row_rate, audio)
  rows = (rows - rows.mean()) / max(float(rows.std()), 1e-6)
  return frame_windows(rows, num_frames, audio.win_size)


def describe_log_mel(config: ml_collections.ConfigDict) -> dict[str, object]:
  """What `compute_audio_features` computes, as written to `aud_features.json`."""
  audio = config.audio
  return {'kind': 'log_mel', 'dim': audio.num_mels, 'win_size': audio.win_size,
          'frame_rate': config.fps, 'row_rate': 2.0 * config.fps,
          'sample_rate': audio.sample_rate, 'window_seconds': audio.window_seconds,
          'fft_size': audio.fft_size, 'min_hz': audio.min_hz, 'max_hz': audio.max_hz,
          'mel_scale': 'htk', 'normalisation': 'one mean and std over the clip',
          'alignment': 'window k = rows 2k-8 .. 2k+7, zero-padded'}


def load_precomputed_features(path: str, num_frames: int, win_size: int = 16) -> np.ndarray:
  """Reads features extracted elsewhere and returns one window per video frame.

  Accepted: [T', win_size, D] windows (e.g. the authors' DeepSpeech aud.npy [T', 16, 29]) with
  |T' - T| <= 1 (one window more is dropped; one fewer is what DeepSpeech's windowing can give, and
  the loader clamps the last frame to it), or [R, D] rows at twice the video frame rate (e.g. HuBERT
  or wav2vec2 at 50 Hz for 25 fps video) with |R - 2T| <= ROW_TOLERANCE, windowed as `frame_windows`.

  Args:
    path: a .npy file.
    num_frames: T, the number of video frames.
    win_size: rows per window.

  Returns:
    [T or T - 1, win_size, D] float32.

  Raises:
    PreprocessError: unreadable file, wrong rank or window size, non-finite values, or a length
      that does not match the video.
  """
  features = npy_file.load_npy(path, PreprocessError, f'audio features ([T, {win_size}, D] '
                              'windows or [2T, D] rows)')
  if not np.issubdtype(features.dtype, np.floating) or not np.all(np.isfinite(features)):
    raise PreprocessError(f'{path}: dtype {features.dtype}, expected finite floating-point values')
  if features.ndim == 3:
    if features.shape[1] != win_size:
      raise PreprocessError(f'{path}: shape {features.shape}, expected [T, {win_size}, D] windows')
    if abs(len(features) - num_frames) > 1:
      raise PreprocessError(f'{path}: {len(features)} windows, but the video has {num_frames} '
                            f'frames (expected {num_frames - 1}..{num_frames + 1} windows)')
    return features[:num_frames].astype(np.float32)
  if features.ndim == 2:
    expected = 2 * num_frames
    if abs(len(features) - expected) > ROW_TOLERANCE:
      raise PreprocessError(f'{path}: {len(features)} feature rows, but the video has {num_frames} '
                            f'frames (expected {expected} +- {ROW_TOLERANCE} rows at twice the '
                            f'frame rate)')
    return frame_windows(features.astype(np.float32), num_frames, win_size)
  raise PreprocessError(f'{path}: shape {features.shape}, expected [T, {win_size}, D] windows or '
                        f'[R, D] rows at twice the frame rate')


def write_description(out_dir: str, description: dict[str, object]) -> None:
  """Writes `aud_features.json` next to aud.npy."""
  with open(os.path.join(out_dir, FEATURES_FILE), 'w') as f:
    json.dump(description, f, indent=2)
