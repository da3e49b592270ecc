"""Loads the audio track of any media file as mono float samples at a chosen rate, and writes WAVs.

Decoding uses the ffmpeg binary that imageio-ffmpeg ships (16-bit PCM at the file's own rate, mixed
down to mono by ffmpeg); resampling is done here with `scipy.signal.resample_poly`, not by ffmpeg.
"""

import math
import os

import numpy as np
from scipy import signal
from scipy.io import wavfile

from dfrf_jax.data import ffmpeg
from dfrf_jax.data.ffmpeg import MediaError

PathLike = str | os.PathLike[str]

__all__ = ['MediaError', 'load_audio', 'write_wav']


def load_audio(path: PathLike, sample_rate: int = 16000) -> np.ndarray:
  """Decodes the first audio stream of a media file to mono samples at `sample_rate`.

  Args:
    path: any container ffmpeg reads: WAV, MP3, MP4, M4A, ...
    sample_rate: output rate in Hz.

  Returns:
    [T] float32 samples in [-1, 1]; T = ceil(duration * sample_rate) for the decoded duration.

  Raises:
    MediaError: naming the file, if it is missing, not a media file, has no audio stream, or
      cannot be decoded.
    ValueError: if `sample_rate` is not a positive int.
  """
  if not isinstance(sample_rate, int) or isinstance(sample_rate, bool) or sample_rate <= 0:
    raise ValueError(f'sample_rate must be a positive int (Hz), got {sample_rate!r}')
  path = os.fspath(path)
  stream = ffmpeg.probe(path).first('Audio')
  if stream is None:
    raise MediaError(f'{path}: has no audio stream')
  if stream.sample_rate is None:
    raise MediaError(f'{path}: ffmpeg states no sample rate for its audio stream '
                     f'({stream.description})')
  process = ffmpeg.run_ffmpeg(['-v', 'error', '-i', path, '-map', '0:a:0', '-ac', '1',
                               '-f', 's16le', '-acodec', 'pcm_s16le', '-'])
  if process.returncode != 0:
    raise MediaError(f'{path}: ffmpeg failed to decode the audio ({ffmpeg.stderr_tail(process)})')
  samples = np.frombuffer(process.stdout, '<i2').astype(np.float32) / 32768.0
  if stream.sample_rate != sample_rate:
    common = math.gcd(stream.sample_rate, sample_rate)
    samples = signal.resample_poly(samples, sample_rate // common, stream.sample_rate // common)
    # The anti-aliasing filter can overshoot slightly past full scale.
    samples = np.clip(samples, -1.0, 1.0).astype(np.float32)
  return samples


def write_wav(path: PathLike, samples: np.ndarray, sample_rate: int) -> None:
  """Writes 16-bit PCM WAV.

  Args:
    path: output file.
    samples: [T] (mono) or [T, C] (C channels) float samples in [-1, 1]; values outside are clipped.
    sample_rate: rate in Hz.

  Raises:
    ValueError: if the samples are not a finite float array of rank 1 or 2, or the rate is not a
      positive int.
  """
  samples = np.asarray(samples)
  if samples.ndim not in (1, 2) or not np.issubdtype(samples.dtype, np.floating):
    raise ValueError(f'{os.fspath(path)}: samples must be a float array [T] or [T, C], got '
                     f'{samples.dtype} of shape {samples.shape}')
  if not np.all(np.isfinite(samples)):
    raise ValueError(f'{os.fspath(path)}: samples contain NaN or inf')
  if not isinstance(sample_rate, int) or isinstance(sample_rate, bool) or sample_rate <= 0:
    raise ValueError(f'{os.fspath(path)}: sample_rate must be a positive int, got {sample_rate!r}')
  pcm = np.round(np.clip(samples, -1.0, 1.0) * 32767.0).astype(np.int16)
  wavfile.write(os.fspath(path), sample_rate, pcm)
