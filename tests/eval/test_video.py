"""Tests for dfrf_jax.eval.video: PNG frames, mp4 encoding with muxed audio, and reading it back."""

import numpy as np
import pytest
from PIL import Image

from dfrf_jax.data import audio_io
from dfrf_jax.data import ffmpeg
from dfrf_jax.eval import video


def _frames(count: int, height: int, width: int) -> np.ndarray:
  """Frames with a moving gradient, float in [0, 1]."""
  t = np.arange(count)[:, None, None]
  y = np.arange(height)[None, :, None]
  x = np.arange(width)[None, None, :]
  base = ((x + y + 3 * t) % 32) / 31.0
  return np.stack([base, 1.0 - base, np.full_like(base, 0.5)], axis=-1)


@pytest.fixture(scope='module')
def wav_0_4s(tmp_path_factory):
  path = tmp_path_factory.mktemp('audio') / 'speech.wav'
  audio_io.write_wav(path, 0.3 * np.sin(2 * np.pi * 220 * np.arange(6400) / 16000), 16000)
  return path


def test_video_with_audio(tmp_path, wav_0_4s):
  path = tmp_path / 'out.mp4'
  video.write_video(path, _frames(10, 32, 32), fps=25, audio_path=wav_0_4s)
  info = video.probe_streams(path)
  assert info['has_video'] and info['has_audio']
  assert (info['num_frames'], info['width'], info['height'], info['fps']) == (10, 32, 32, 25.0)
  assert info['audio_sample_rate'] == 16000
  assert info['duration'] == pytest.approx(0.4, abs=0.05)


def test_audio_is_cut_to_the_video(tmp_path, wav_0_4s):
  path = tmp_path / 'short.mp4'
  video.write_video(path, _frames(5, 32, 32), fps=25, audio_path=wav_0_4s)
  # 5 frames at 25 fps: 0.2 s, though the audio lasts 0.4 s (AAC adds at most a 1024-sample frame).
  assert audio_io.load_audio(path, 16000).size <= 0.2 * 16000 + 1024
  assert video.probe_streams(path)['duration'] == pytest.approx(0.2, abs=0.07)


def test_video_without_audio_and_odd_size(tmp_path):
  path = tmp_path / 'silent.mp4'
  video.write_video(path, (_frames(6, 31, 33) * 255).astype(np.uint8), fps=25)
  info = video.probe_streams(path)
  assert info['has_video'] and not info['has_audio'] and info['audio_sample_rate'] is None
  assert (info['num_frames'], info['width'], info['height']) == (6, 34, 32)


def test_decoded_frames_are_close_to_the_input(tmp_path):
  y, x = np.mgrid[0:64, 0:64] / 64.0
  smooth = np.stack([0.5 + 0.3 * np.sin(2 * np.pi * (x + 0.1 * t)) * np.cos(np.pi * y)
                     for t in range(4)])
  frames = video.to_uint8(np.stack([smooth, 1.0 - smooth, 0.5 + 0.4 * (y - 0.5) + 0 * smooth], -1))
  path = tmp_path / 'check.mp4'
  video.write_video(path, frames, fps=25)
  out = tmp_path / 'decoded_%d.png'
  process = ffmpeg.run_ffmpeg(['-v', 'error', '-i', str(path), str(out)])
  assert process.returncode == 0, ffmpeg.stderr_tail(process)
  decoded = np.stack([np.asarray(Image.open(tmp_path / f'decoded_{i}.png')) for i in range(1, 5)])
  # Smooth colours survive 4:2:0 chroma subsampling and CRF 18 within a few grey levels.
  assert np.mean(np.abs(decoded.astype(float) - frames)) < 3.0


def test_write_frames(tmp_path):
  frames = _frames(12, 8, 10)
  paths = video.write_frames(tmp_path / 'frames', frames)
  assert [p.name for p in paths] == [f'{i:03d}.png' for i in range(12)]
  assert sorted(p.name for p in (tmp_path / 'frames').iterdir()) == [p.name for p in paths]
  np.testing.assert_array_equal(np.asarray(Image.open(paths[7])), video.to_uint8(frames[7]))


def test_to_uint8():
  np.testing.assert_array_equal(video.to_uint8(np.array([-0.5, 0.0, 0.5, 1.0, 2.0])),
                                [0, 0, 128, 255, 255])
  with pytest.raises(ValueError, match='uint8 or float'):
    video.to_uint8(np.zeros(3, np.int32))
  with pytest.raises(ValueError, match='NaN'):
    video.to_uint8(np.array([np.nan]))


def test_errors(tmp_path):
  with pytest.raises(ValueError, match=r'out.mp4: frames must be \[T, H, W, 3\]'):
    video.write_video(tmp_path / 'out.mp4', np.zeros((4, 8, 8)))
  with pytest.raises(ValueError, match='T >= 1'):
    video.write_frames(tmp_path / 'frames', np.zeros((0, 8, 8, 3)))
  silent = tmp_path / 'silent.mp4'
  video.write_video(silent, np.zeros((2, 8, 8, 3)))
  with pytest.raises(ffmpeg.MediaError, match='silent.mp4: has no audio stream'):
    video.write_video(tmp_path / 'x.mp4', np.zeros((2, 8, 8, 3)), audio_path=silent)
  with pytest.raises(ffmpeg.MediaError, match='not a file'):
    video.probe_streams(tmp_path / 'missing.mp4')
