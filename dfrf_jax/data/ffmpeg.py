"""Runs the ffmpeg binary that imageio-ffmpeg ships, and reads what `ffmpeg -i` says about a file.

ffprobe is not shipped, so stream facts come from the header ffmpeg prints for its input, e.g.
`Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(progressive), 32x32, ...,
25 fps, ...` and `Stream #0:1[0x2](und): Audio: aac (LC) (...), 16000 Hz, mono, fltp, 69 kb/s`.
"""

from collections.abc import Sequence
import dataclasses
import os
import re
import subprocess

import imageio_ffmpeg

PathLike = str | os.PathLike[str]

_DURATION = re.compile(r'Duration: (\d+):(\d{2}):(\d{2}(?:\.\d+)?)')
_STREAM = re.compile(r'^\s*Stream #\d+:\d+\S*: (Video|Audio|Subtitle|Data|Attachment): (.*)$',
                     re.MULTILINE)
_SIZE = re.compile(r', (\d+)x(\d+)\b')
_FPS = re.compile(r', (\d+(?:\.\d+)?)(k?) fps\b')
_RATE = re.compile(r', (\d+) Hz\b')


class MediaError(ValueError):
  """A media file is missing, unreadable by ffmpeg, or lacks the stream asked for.

  The message names the file and what was expected.
  """


@dataclasses.dataclass(frozen=True)
class StreamInfo:
  """One stream of a media file as `ffmpeg -i` describes it.

  Attributes:
    kind: 'Video', 'Audio', 'Subtitle', 'Data' or 'Attachment'.
    description: the rest of ffmpeg's stream line (codec, format, size or rate, ...).
    width, height: frame size in pixels (video streams).
    fps: nominal frame rate in frames per second (video streams, when ffmpeg states it).
    sample_rate: samples per second (audio streams).
  """
  kind: str
  description: str
  width: int | None = None
  height: int | None = None
  fps: float | None = None
  sample_rate: int | None = None


@dataclasses.dataclass(frozen=True)
class MediaInfo:
  """What `ffmpeg -i` reports for a file.

  Attributes:
    duration: container duration in seconds (None when ffmpeg prints N/A).
    streams: the streams in file order.
  """
  duration: float | None
  streams: tuple[StreamInfo, ...]

  def first(self, kind: str) -> StreamInfo | None:
    """The first stream of `kind` ('Video', 'Audio', ...), or None."""
    return next((s for s in self.streams if s.kind == kind), None)


def ffmpeg_exe() -> str:
  """Path of the ffmpeg binary bundled with imageio-ffmpeg."""
  return imageio_ffmpeg.get_ffmpeg_exe()


def run_ffmpeg(args: Sequence[str], stdin: bytes | None = None) -> subprocess.CompletedProcess:
  """Runs `ffmpeg -hide_banner <args>` (with `-nostdin` unless given stdin), capturing its output.

  Args:
    args: ffmpeg arguments after the executable.
    stdin: bytes fed to ffmpeg's standard input (e.g. raw frames for `-i -`); None closes it.

  Returns:
    The completed process; the caller checks `returncode`.
  """
  command = [ffmpeg_exe(), '-hide_banner']
  if stdin is None:
    command.append('-nostdin')
  return subprocess.run(command + list(args), input=stdin, capture_output=True, check=False)


def stderr_tail(process: subprocess.CompletedProcess, lines: int = 3) -> str:
  """The last non-empty lines of ffmpeg's stderr, for error messages."""
  text = process.stderr.decode('utf-8', 'replace').replace('\r', '\n')
  return ' | '.join([line.strip() for line in text.splitlines() if line.strip()][-lines:])


def probe(path: PathLike) -> MediaInfo:
  """Reads the duration and streams of a media file from ffmpeg's description of its input.

  Args:
    path: any container ffmpeg reads (WAV, MP3, MP4, M4A, ...).

  Returns:
    The file's duration and streams.

  Raises:
    MediaError: naming the file, if it does not exist or ffmpeg cannot open it as media.
  """
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise MediaError(f'{path}: not a file')
  # With no output file ffmpeg exits with an error after describing the input; that is expected.
  process = run_ffmpeg(['-i', path])
  text = process.stderr.decode('utf-8', 'replace')
  if 'Input #0' not in text:
    raise MediaError(f'{path}: ffmpeg cannot read it as a media file ({stderr_tail(process)})')
  duration = None
  match = _DURATION.search(text)
  if match:
    hours, minutes, seconds = match.groups()
    duration = 3600 * int(hours) + 60 * int(minutes) + float(seconds)
  streams = tuple(_stream_info(kind, description) for kind, description in _STREAM.findall(text))
  return MediaInfo(duration=duration, streams=streams)


def _stream_info(kind: str, description: str) -> StreamInfo:
  """Pulls the size and frame rate (video) or sample rate (audio) out of a stream line."""
  fields = {}
  if kind == 'Video':
    size = _SIZE.search(description)
    if size:
      fields['width'], fields['height'] = int(size.group(1)), int(size.group(2))
    fps = _FPS.search(description)
    if fps:
      fields['fps'] = float(fps.group(1)) * (1000.0 if fps.group(2) else 1.0)
  elif kind == 'Audio':
    rate = _RATE.search(description)
    if rate:
      fields['sample_rate'] = int(rate.group(1))
  return StreamInfo(kind=kind, description=description.strip(), **fields)
