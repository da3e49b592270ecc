"""Tests for dfrf_jax.data.ffmpeg: reading stream facts from `ffmpeg -i` output."""

import numpy as np
import pytest
from scipy.io import wavfile

from dfrf_jax.data import ffmpeg


def test_probe_wav(tmp_path):
  path = tmp_path / 'a.wav'
  wavfile.write(path, 22050, np.zeros((11025, 2), np.int16))
  info = ffmpeg.probe(path)
  assert info.duration == pytest.approx(0.5, abs=0.01)
  assert [s.kind for s in info.streams] == ['Audio']
  assert info.first('Audio').sample_rate == 22050
  assert info.first('Video') is None


def test_probe_video_size_and_rate(tmp_path):
  path = tmp_path / 'v.mp4'
  process = ffmpeg.run_ffmpeg(['-v', 'error', '-f', 'lavfi', '-i',
                               'testsrc=size=48x32:rate=30:duration=0.3', '-pix_fmt', 'yuv420p',
                               str(path)])
  assert process.returncode == 0, ffmpeg.stderr_tail(process)
  video = ffmpeg.probe(path).first('Video')
  assert (video.width, video.height, video.fps) == (48, 32, 30.0)


def test_stream_line_parsing():
  video = ffmpeg._stream_info(
      'Video', 'h264 (High) (avc1 / 0x31637661), yuv420p(progressive), 34x32 [SAR 1:1 DAR 17:16], '
      '29 kb/s, 29.97 fps, 25 tbr, 12800 tbn (default)')
  assert (video.width, video.height, video.fps) == (34, 32, 29.97)
  audio = ffmpeg._stream_info('Audio', 'mp3 (mp3float), 44100 Hz, stereo, fltp, 128 kb/s')
  assert audio.sample_rate == 44100 and audio.width is None


def test_errors_name_the_file(tmp_path):
  with pytest.raises(ffmpeg.MediaError, match='not a file'):
    ffmpeg.probe(tmp_path / 'missing.mp4')
  junk = tmp_path / 'junk.mp4'
  junk.write_bytes(np.random.default_rng(0).bytes(2000))
  with pytest.raises(ffmpeg.MediaError, match='cannot read it as a media file') as err:
    ffmpeg.probe(junk)
  assert str(junk) in str(err.value)
