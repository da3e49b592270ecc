"""Decodes a user's video file with the ffmpeg bundled in imageio-ffmpeg: square frames and mono audio.

Any container ffmpeg reads is accepted. Frames are resampled to a fixed frame rate (ffmpeg's `fps`
filter: frame k is the source frame shown at time k / fps), centre-cropped to a square and resized
with area averaging. Audio is the first audio stream, downmixed to mono by ffmpeg and resampled to
the requested rate with scipy's polyphase filter.
"""

import dataclasses
import math
import re
import subprocess
from typing import Iterator

import imageio_ffmpeg
import numpy as np
from scipy import signal

from dfrf_jax.preprocess.errors import PreprocessError

_DURATION = re.compile(r'Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)')
_AUDIO_RATE = re.compile(r'Stream #\S+.*?: Audio: .*?(\d+) Hz')


@dataclasses.dataclass(frozen=True)
class MediaInfo:
  """What ffmpeg reports about a file.

  Attributes:
    duration: container duration in seconds.
    has_video: whether the file has a video stream.
    audio_rate: sample rate of the first audio stream in Hz, or None without audio.
  """
  duration: float
  has_video: bool
  audio_rate: int | None


def probe(path: str) -> MediaInfo:
  """Reads the stream layout of a media file.

  Raises:
    PreprocessError: the file is missing, ffmpeg cannot read it, or it has no video stream.
  """
  result = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), '-hide_banner', '-nostdin', '-i', path],
                          capture_output=True, text=True, errors='replace', check=False)
  report = result.stderr
  streams = [line for line in report.splitlines() if line.strip().startswith('Stream #')]
  if not streams:
    last = report.strip().splitlines()[-1] if report.strip() else 'no output'
    raise PreprocessError(f'{path}: ffmpeg cannot read this file as a video ({last})')
  has_video = any(': Video: ' in line for line in streams)
  if not has_video:
    raise PreprocessError(f'{path}: the file has no video stream, expected a video with a face')
  duration_match = _DURATION.search(report)
  if duration_match is None:
    raise PreprocessError(f'{path}: ffmpeg reports no duration, expected a finite video')
  hours, minutes, seconds = duration_match.groups()
  duration = 3600 * int(hours) + 60 * int(minutes) + float(seconds)
  audio_match = _AUDIO_RATE.search(report)
  audio_rate = int(audio_match.group(1)) if audio_match else None
  return MediaInfo(duration=duration, has_video=has_video, audio_rate=audio_rate)


def iter_frames(path: str, size: int, fps: float) -> Iterator[np.ndarray]:
  """Decodes the video as square RGB frames at a fixed rate, one at a time.

  Args:
    path: the video file.
    size: output side length in pixels.
    fps: output frame rate (frames per second).

  Yields:
    [size, size, 3] uint8 RGB frames, in time order.

  Raises:
    PreprocessError: if ffmpeg fails to decode the file.
  """
  if size < 16:
    raise PreprocessError(f'size = {size}, expected a side length of at least 16 pixels')
  vf = (f'fps={fps},crop=w=min(iw\\,ih):h=min(iw\\,ih),'
        f'scale={size}:{size}:flags=area,format=rgb24')
  command = [imageio_ffmpeg.get_ffmpeg_exe(), '-hide_banner', '-nostdin', '-loglevel', 'error',
             '-i', path, '-map', '0:v:0', '-vf', vf, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:']
  frame_bytes = size * size * 3
  with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
    while True:
      buffer = process.stdout.read(frame_bytes)
      if len(buffer) < frame_bytes:
        break
      yield np.frombuffer(buffer, np.uint8).reshape(size, size, 3)
    stderr = process.stderr.read().decode(errors='replace').strip()
    if process.wait() != 0:
      raise PreprocessError(f'{path}: ffmpeg failed to decode the frames ({stderr})')


def read_audio(path: str, sample_rate: int) -> np.ndarray:
  """The first audio stream as mono float samples at `sample_rate`.

  Args:
    path: any media file with an audio stream.
    sample_rate: output rate in Hz.

  Returns:
    [S] float32 samples in [-1, 1].

  Raises:
    PreprocessError: the file has no audio stream or ffmpeg fails.
  """
  info = probe(path)
  if info.audio_rate is None:
    raise PreprocessError(f'{path}: the video has no audio track, expected speech to drive the '
                          f'talking head (or pass precomputed features with --audio_features)')
  command = [imageio_ffmpeg.get_ffmpeg_exe(), '-hide_banner', '-nostdin', '-loglevel', 'error',
             '-i', path, '-map', '0:a:0', '-ac', '1', '-f', 'f32le', '-acodec', 'pcm_f32le', 'pipe:']
  result = subprocess.run(command, capture_output=True, check=False)
  if result.returncode != 0:
    raise PreprocessError(f'{path}: ffmpeg failed to decode the audio '
                          f'({result.stderr.decode(errors="replace").strip()})')
  samples = np.frombuffer(result.stdout, np.float32)
  if info.audio_rate != sample_rate:
    common = math.gcd(info.audio_rate, sample_rate)
    samples = signal.resample_poly(samples, sample_rate // common, info.audio_rate // common)
  return np.clip(samples, -1.0, 1.0).astype(np.float32)
