"""Tests for dfrf_jax.data.audio_io: decoding containers to mono at a chosen rate, writing WAVs."""

import pathlib

import numpy as np
import pytest
from scipy.io import wavfile

from dfrf_jax.data import audio_io
from dfrf_jax.data import ffmpeg


def _sine(freq: float, seconds: float, rate: int) -> np.ndarray:
  return np.sin(2 * np.pi * freq * np.arange(round(seconds * rate)) / rate)


def _peak_hz(samples: np.ndarray, rate: int) -> float:
  spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
  return float(np.fft.rfftfreq(samples.size, 1.0 / rate)[np.argmax(spectrum)])


@pytest.fixture(scope='module')
def stereo_wav(tmp_path_factory) -> pathlib.Path:
  """0.5 s of 440 Hz at 44.1 kHz: amplitude 0.5 on the left channel, 0.3 on the right."""
  tone = _sine(440.0, 0.5, 44100)
  path = tmp_path_factory.mktemp('audio') / 'tone.wav'
  audio_io.write_wav(path, np.stack([0.5 * tone, 0.3 * tone], axis=1), 44100)
  return path


def test_write_wav_is_int16_with_the_given_rate(stereo_wav):
  rate, pcm = wavfile.read(stereo_wav)
  assert rate == 44100 and pcm.dtype == np.int16 and pcm.shape == (22050, 2)
  expected = np.round(0.5 * _sine(440.0, 0.5, 44100) * 32767).astype(np.int16)
  np.testing.assert_array_equal(pcm[:, 0], expected)


def test_stereo_44k_wav_to_mono_16k(stereo_wav):
  samples = audio_io.load_audio(stereo_wav, sample_rate=16000)
  assert samples.dtype == np.float32 and samples.shape == (8000,)
  assert _peak_hz(samples, 16000) == pytest.approx(440.0, abs=2.0)
  # The mono mix is the mean of the channels: a 0.4-amplitude sine, away from the filter's edges.
  middle = samples[1000:-1000]
  reference = 0.4 * _sine(440.0, 0.5, 16000)[1000:-1000]
  np.testing.assert_allclose(middle, reference, atol=2e-3)


def test_native_rate_is_not_resampled(tmp_path):
  pcm = (np.arange(-50, 50) * 300).astype(np.int16)
  path = tmp_path / 'ramp.wav'
  wavfile.write(path, 16000, pcm)
  np.testing.assert_array_equal(audio_io.load_audio(path, 16000), pcm / 32768.0)


@pytest.mark.parametrize('suffix,codec', [('.m4a', 'aac'), ('.mp3', 'libmp3lame')])
def test_compressed_containers_round_trip(stereo_wav, tmp_path, suffix, codec):
  path = tmp_path / f'tone{suffix}'
  process = ffmpeg.run_ffmpeg(['-v', 'error', '-i', str(stereo_wav), '-c:a', codec, str(path)])
  assert process.returncode == 0, ffmpeg.stderr_tail(process)
  samples = audio_io.load_audio(path, sample_rate=16000)
  # Encoder delay and padding add at most a few frames of 1024-1152 samples at 44.1 kHz.
  assert 8000 <= samples.size <= 8000 + 3 * 1152 * 16000 // 44100
  assert _peak_hz(samples, 16000) == pytest.approx(440.0, abs=2.0)
  # The 0.4-amplitude mono mix has an RMS of 0.4 / sqrt(2) away from the codec's start-up.
  rms = np.sqrt(np.mean(np.square(samples[2000:6000])))
  assert rms == pytest.approx(0.4 / np.sqrt(2), rel=0.05)


def test_missing_file(tmp_path):
  with pytest.raises(audio_io.MediaError, match='not a file') as err:
    audio_io.load_audio(tmp_path / 'nope.wav')
  assert 'nope.wav' in str(err.value)


def test_not_a_media_file(tmp_path):
  path = tmp_path / 'notes.wav'
  path.write_text('these are not samples\n' * 20)
  with pytest.raises(audio_io.MediaError, match='cannot read it as a media file') as err:
    audio_io.load_audio(path)
  assert str(path) in str(err.value)


def test_video_without_audio(tmp_path):
  path = tmp_path / 'silent.mp4'
  process = ffmpeg.run_ffmpeg(['-v', 'error', '-f', 'lavfi', '-i',
                               'testsrc=size=32x32:rate=25:duration=0.2', '-pix_fmt', 'yuv420p',
                               str(path)])
  assert process.returncode == 0, ffmpeg.stderr_tail(process)
  with pytest.raises(audio_io.MediaError, match='no audio stream') as err:
    audio_io.load_audio(path)
  assert str(path) in str(err.value)


def test_bad_arguments(tmp_path, stereo_wav):
  with pytest.raises(ValueError, match='sample_rate'):
    audio_io.load_audio(stereo_wav, sample_rate=0)
  with pytest.raises(ValueError, match='float array'):
    audio_io.write_wav(tmp_path / 'x.wav', np.zeros((2, 2, 2)), 16000)
  with pytest.raises(ValueError, match='float array'):
    audio_io.write_wav(tmp_path / 'x.wav', np.zeros(4, np.int16), 16000)
  with pytest.raises(ValueError, match='NaN'):
    audio_io.write_wav(tmp_path / 'x.wav', np.array([0.0, np.nan]), 16000)
