"""Log-mel filterbank, window alignment and precomputed-feature loading."""

import numpy as np
import pytest

from dfrf_jax.config import default_config
from dfrf_jax.preprocess import audio_features
from dfrf_jax.preprocess.errors import PreprocessError


def test_filterbank_triangles_peak_at_their_mel_centres():
  bank = audio_features.mel_filterbank(10, 512, 16000, 0.0, 8000.0)
  assert bank.shape == (10, 257)
  centres = audio_features.mel_to_hz(np.linspace(0.0, audio_features.hz_to_mel(8000.0), 12))[1:-1]
  bins = np.fft.rfftfreq(512, 1 / 16000)
  for k, centre in enumerate(centres):
    nearest = np.argmin(np.abs(bins - centre))
    assert np.argmax(bank[k]) in (nearest - 1, nearest, nearest + 1)
  assert bank.min() == 0.0 and bank.max() <= 1.0


def test_mel_scale_round_trip_and_htk_value():
  np.testing.assert_allclose(audio_features.hz_to_mel(1000.0), 1000.0, rtol=2e-3)
  hz = np.array([0.0, 440.0, 7600.0])
  np.testing.assert_allclose(audio_features.mel_to_hz(audio_features.hz_to_mel(hz)), hz, atol=1e-9)


def test_tone_energy_lands_in_the_band_holding_its_frequency():
  config = default_config().preprocess
  t = np.arange(16000) / 16000
  rows = audio_features.log_mel_rows(0.5 * np.sin(2 * np.pi * 1000.0 * t), 16000, 50.0,
                                     config.audio)
  assert rows.shape == (50, config.audio.num_mels)
  bank = audio_features.mel_filterbank(config.audio.num_mels, 512, 16000, config.audio.min_hz,
                                       config.audio.max_hz)
  bin_1k = round(1000.0 * 512 / 16000)
  assert np.argmax(rows[25]) == np.argmax(bank[:, bin_1k])


def test_windows_follow_the_authors_stride_two_alignment():
  rows = np.arange(20, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32) + 1.0
  windows = audio_features.frame_windows(rows, num_frames=10, win_size=16)
  assert windows.shape == (10, 16, 3)
  for k in range(10):
    for j in range(16):
      r = 2 * k - 8 + j
      expected = r + 1.0 if 0 <= r < 20 else 0.0
      np.testing.assert_array_equal(windows[k, j], expected)


def test_compute_gives_one_standardised_window_per_frame():
  config = default_config().preprocess
  rng = np.random.default_rng(0)
  samples = 0.1 * rng.standard_normal(48000 * 2).astype(np.float32)   # 2 s at 48 kHz
  windows = audio_features.compute_audio_features(samples, 48000, 50, config)
  assert windows.shape == (50, 16, 29)
  # Frame 25 (t = 1 s) is fully inside the audio: 16 standardised rows, none of them padding.
  assert np.all(windows[25] != 0.0)
  np.testing.assert_array_equal(windows[0, :8], 0.0)
  assert abs(float(windows[4:46, 8].mean())) < 0.5


def test_audio_shorter_than_one_window_is_an_error():
  config = default_config().preprocess
  with pytest.raises(PreprocessError, match='shorter than one feature window'):
    audio_features.compute_audio_features(np.zeros(16000 // 5, np.float32), 16000, 5, config)


@pytest.mark.parametrize('shape', [(30, 16, 29), (29, 16, 29), (31, 16, 5)])
def test_precomputed_windows_are_accepted_within_one_frame(tmp_path, shape):
  features = np.random.default_rng(1).standard_normal(shape)
  np.save(tmp_path / 'f.npy', features)
  loaded = audio_features.load_precomputed_features(str(tmp_path / 'f.npy'), 30)
  np.testing.assert_allclose(loaded, features[:30], rtol=1e-6)
  assert loaded.dtype == np.float32


def test_precomputed_rows_are_windowed(tmp_path):
  rows = np.random.default_rng(2).standard_normal((61, 8)).astype(np.float32)
  np.save(tmp_path / 'rows.npy', rows)
  loaded = audio_features.load_precomputed_features(str(tmp_path / 'rows.npy'), 30)
  np.testing.assert_array_equal(loaded, audio_features.frame_windows(rows, 30))


@pytest.mark.parametrize('shape,message', [((27, 16, 29), '27 windows'), ((70, 8), '70 feature rows'),
                                           ((30, 8, 29), 'expected \\[T, 16, D\\]'),
                                           ((30,), 'expected \\[T, 16, D\\] windows or')])
def test_precomputed_of_the_wrong_length_or_shape_is_an_error(tmp_path, shape, message):
  np.save(tmp_path / 'bad.npy', np.zeros(shape))
  with pytest.raises(PreprocessError, match=message):
    audio_features.load_precomputed_features(str(tmp_path / 'bad.npy'), 30)
