"""Writes rendered frames as PNG files and as an H.264 mp4 with the driving audio muxed in.

Encoding uses the ffmpeg binary that imageio-ffmpeg ships; `probe_streams` reads a written file back
(ffprobe is not shipped, so it parses what `ffmpeg -i` prints and counts frames by remuxing them to
ffmpeg's null muxer).
"""

import os
import pathlib
import re
from typing import Any

import numpy as np
from PIL import Image

from dfrf_jax.data import ffmpeg
from dfrf_jax.data.ffmpeg import MediaError

PathLike = str | os.PathLike[str]

# x264 constant-rate factor: visually lossless, so compression hides little of the renders' error.
_CRF = 18
_FRAME_COUNT = re.compile(r'frame=\s*(\d+)')


def to_uint8(frames: np.ndarray) -> np.ndarray:
  """Converts frames to uint8.

  Args:
    frames: [..., 3] uint8, or float in [0, 1] (clipped to it, then rounded).

  Returns:
    [..., 3] uint8.

  Raises:
    ValueError: for another dtype or non-finite floats.
  """
  frames = np.asarray(frames)
  if frames.dtype == np.uint8:
    return frames
  if not np.issubdtype(frames.dtype, np.floating):
    raise ValueError(f'frames must be uint8 or float in [0, 1], got {frames.dtype}')
  if not np.all(np.isfinite(frames)):
    raise ValueError('frames contain NaN or inf')
  return np.round(np.clip(frames, 0.0, 1.0) * 255.0).astype(np.uint8)


def _checked_frames(frames: np.ndarray, destination: PathLike) -> np.ndarray:
  """[T, H, W, 3] uint8 frames, T >= 1, or a ValueError naming where they were to be written."""
  frames = np.asarray(frames)
  if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
    raise ValueError(f'{os.fspath(destination)}: frames must be [T, H, W, 3] with T >= 1, got '
                     f'shape {frames.shape}')
  return to_uint8(frames)


def write_frames(directory: PathLike, frames: np.ndarray) -> list[pathlib.Path]:
  """Writes each frame as a PNG named by its index: `000.png`, `001.png`, ...

  Args:
    directory: output folder (created if missing).
    frames: [T, H, W, 3] uint8 or float in [0, 1].

  Returns:
    The T written paths in frame order. Indices are zero-padded to at least 3 digits (more when
    T > 1000), so the names sort in frame order.
  """
  frames = _checked_frames(frames, directory)
  directory = pathlib.Path(directory)
  directory.mkdir(parents=True, exist_ok=True)
  digits = max(3, len(str(frames.shape[0] - 1)))
  paths = []
  for i, frame in enumerate(frames):
    path = directory / f'{i:0{digits}d}.png'
    Image.fromarray(frame).save(path)
    paths.append(path)
  return paths


def write_video(path: PathLike, frames: np.ndarray, fps: float = 25.0,
                audio_path: PathLike | None = None) -> None:
  """Encodes frames as H.264 (yuv420p) mp4, with an AAC copy of the driving audio when given.

  yuv420p needs even frame sizes: an odd height or width gets one more row or column repeating the
  last one.

  Args:
    path: output file, e.g. `render.mp4`.
    frames: [T, H, W, 3] uint8 or float in [0, 1].
    fps: frames per second (the authors' data is 25 fps).
    audio_path: a media file whose first audio stream is muxed in, cut to the video's T / fps
      seconds; None writes a silent video.

  Raises:
    MediaError: naming the file, if the audio file has no audio stream or ffmpeg fails.
    ValueError: for frames of the wrong rank, channel count, dtype, or no frames.
  """
  frames = _checked_frames(frames, path)
  if not fps > 0:
    raise ValueError(f'{os.fspath(path)}: fps must be positive, got {fps}')
  _, height, width, _ = frames.shape
  frames = np.pad(frames, ((0, 0), (0, height % 2), (0, width % 2), (0, 0)), mode='edge')
  args = ['-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24',
          '-s', f'{frames.shape[2]}x{frames.shape[1]}', '-framerate', f'{fps}', '-i', '-']
  maps = ['-map', '0:v:0']
  if audio_path is not None:
    audio_path = os.fspath(audio_path)
    if ffmpeg.probe(audio_path).first('Audio') is None:
      raise MediaError(f'{audio_path}: has no audio stream to mux into {os.fspath(path)}')
    args += ['-t', f'{frames.shape[0] / fps:.6f}', '-i', audio_path]
    maps += ['-map', '1:a:0', '-c:a', 'aac']
  args += maps + ['-c:v', 'libx264', '-crf', str(_CRF), '-pix_fmt', 'yuv420p', os.fspath(path)]
  process = ffmpeg.run_ffmpeg(args, stdin=np.ascontiguousarray(frames).tobytes())
  if process.returncode != 0:
    raise MediaError(f'{os.fspath(path)}: ffmpeg failed to encode ({ffmpeg.stderr_tail(process)})')


def probe_streams(path: PathLike) -> dict[str, Any]:
  """Describes a written video.

  Args:
    path: a media file.

  Returns:
    A dict with `duration` (seconds, or None), `has_video`, `num_frames` (counted by decoding the
    container, 0 without video), `width`, `height`, `fps` (None without video), `has_audio`,
    `audio_sample_rate` (None without audio).

  Raises:
    MediaError: naming the file, if it is missing, not media, or its frames cannot be counted.
  """
  path = os.fspath(path)
  info = ffmpeg.probe(path)
  video, audio = info.first('Video'), info.first('Audio')
  num_frames = 0
  if video is not None:
    process = ffmpeg.run_ffmpeg(['-i', path, '-map', '0:v:0', '-c', 'copy', '-f', 'null', '-'])
    counts = _FRAME_COUNT.findall(process.stderr.decode('utf-8', 'replace'))
    if process.returncode != 0 or not counts:
      raise MediaError(f'{path}: cannot count video frames ({ffmpeg.stderr_tail(process)})')
    num_frames = int(counts[-1])
  return {
      'duration': info.duration,
      'has_video': video is not None,
      'num_frames': num_frames,
      'width': None if video is None else video.width,
      'height': None if video is None else video.height,
      'fps': None if video is None else video.fps,
      'has_audio': audio is not None,
      'audio_sample_rate': None if audio is None else audio.sample_rate,
  }
