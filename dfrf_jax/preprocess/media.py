"""Decodes a user's video file with the ffmpeg bundled in imageio-ffmpeg into square frames.

Any container ffmpeg reads is accepted. Frames are resampled to a fixed frame rate (ffmpeg's `fps`
filter: frame k is the source frame shown at time k / fps), centre-cropped to a square and resized
with area averaging. Audio is decoded by `dfrf_jax.data.audio_io.load_audio`.
"""

import subprocess
from typing import Iterator

import numpy as np

from dfrf_jax.data import ffmpeg
from dfrf_jax.preprocess.errors import PreprocessError


def check_video(path: str) -> ffmpeg.MediaInfo:
  """The streams of a user's video, which must have a video stream.

  Raises:
    PreprocessError: the file is missing, ffmpeg cannot read it, or it has no video stream.
  """
  try:
    info = ffmpeg.probe(path)
  except ffmpeg.MediaError as e:
    raise PreprocessError(f'{path}: ffmpeg cannot read this file as a video ({e})') from e
  if info.first('Video') is None:
    raise PreprocessError(f'{path}: the file has no video stream, expected a video with a face')
  return info


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
  command = [ffmpeg.ffmpeg_exe(), '-hide_banner', '-nostdin', '-loglevel', 'error',
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
