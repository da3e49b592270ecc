"""Tests of the speech-like signal: mouth opening, DeepSpeech-layout windows and the waveform."""

import numpy as np
import pytest

from dfrf_jax.data import synthetic_speech as speech


def _utterance(seed: int = 0, duration: float = 4.0) -> speech.Utterance:
  return speech.sample_utterance(np.random.default_rng(seed), duration)


def test_opening_is_bounded_silent_in_pauses_and_rate_is_its_derivative():
  utterance = _utterance()
  times = np.linspace(0.0, 4.0, 2001)
  opening, rate = speech.mouth_opening(utterance, times)
  assert opening.min() >= 0.0 and opening.max() < 1.0
  assert opening.max() > 0.5
  onset, length = utterance.syllables[:, 0], utterance.syllables[:, 1]
  silent = ~np.any((times[:, None] > onset) & (times[:, None] < onset + length), axis=1)
  assert silent.any()
  np.testing.assert_array_equal(opening[silent], 0.0)
  h = 1e-6
  numeric = (speech.mouth_opening(utterance, times + h)[0]
             - speech.mouth_opening(utterance, times - h)[0]) / (2 * h)
  np.testing.assert_allclose(rate, numeric, atol=1e-4)


def test_opening_matches_closed_form_for_one_syllable():
  utterance = speech.Utterance(syllables=np.array([[0.5, 0.2, 0.8]]), pitch_hz=100.0)
  times = np.array([0.4, 0.55, 0.6, 0.7, 0.75])
  opening, _ = speech.mouth_opening(utterance, times)
  expected = np.tanh(0.8 * np.sin(np.pi * np.clip((times - 0.5) / 0.2, 0.0, 1.0))**2)
  np.testing.assert_allclose(opening, expected, atol=1e-15)
  assert opening[2] == pytest.approx(np.tanh(0.8))


def test_windows_follow_the_deepspeech_layout():
  utterance, num_frames = _utterance(1, duration=1.0), 25
  windows = speech.audio_windows(utterance, num_frames)
  assert windows.shape == (num_frames, 16, 29) and windows.dtype == np.float32
  num_rows = 2 * num_frames - 1                   # round(duration * 50) - 1, as the authors
  for k in (0, 3, 12, num_frames - 1):
    for position in range(16):
      row = 2 * k - 8 + position
      if 0 <= row < num_rows:
        o, r = speech.mouth_opening(utterance, np.array([row / 50.0]))
        np.testing.assert_allclose(windows[k, position], speech.feature_rows(o, r)[0], rtol=1e-6,
                                   atol=1e-6)
      else:
        np.testing.assert_array_equal(windows[k, position], 0.0)
  np.testing.assert_array_equal(windows[0, :8], 0.0)
  np.testing.assert_array_equal(windows[-1, 9:], 0.0)
  assert np.all(np.abs(windows[-1, :9]) > 0)


def test_features_predict_the_opening_linearly_across_utterances():
  fit_o, fit_r = speech.mouth_opening(_utterance(2), np.arange(200) / 50.0)
  test_o, test_r = speech.mouth_opening(_utterance(3), np.arange(200) / 50.0)
  design = np.concatenate([speech.feature_rows(fit_o, fit_r), np.ones((200, 1))], axis=1)
  weights, *_ = np.linalg.lstsq(design, fit_o, rcond=None)
  test_design = np.concatenate([speech.feature_rows(test_o, test_r), np.ones((200, 1))], axis=1)
  predicted = test_design @ weights
  r2 = 1.0 - np.sum((predicted - test_o)**2) / np.sum((test_o - test_o.mean())**2)
  assert r2 > 0.99


def test_feature_bank_is_smooth_bounded_and_not_degenerate():
  o, r = np.linspace(0, 1, 50), np.linspace(-10, 10, 50)
  rows = speech.feature_rows(o, r)
  assert rows.shape == (50, 29)
  assert np.abs(rows).max() <= 3.0
  assert np.linalg.matrix_rank(rows - rows.mean(0), tol=1e-6) >= 3
  np.testing.assert_array_equal(speech.feature_rows(o[:5], r[:5]), rows[:5])


def test_waveform_is_a_16khz_carrier_modulated_by_the_opening():
  utterance, num_frames = _utterance(4, duration=2.0), 50
  samples = speech.waveform(utterance, num_frames)
  assert samples.dtype == np.int16 and samples.shape == (32000,)
  opening, _ = speech.mouth_opening(utterance, np.arange(32000) / 16000.0)
  assert np.all(np.abs(samples.astype(np.float64)) <= 0.8 * 32767 * opening + 0.5)
  assert np.all(samples[opening == 0] == 0)
  # A 20 ms block's peak follows the opening: the carrier's period (< 11 ms) fits in it.
  blocks = np.abs(samples.astype(np.float64)).reshape(-1, 320).max(1)
  envelope = opening.reshape(-1, 320).mean(1)
  assert np.corrcoef(blocks, envelope)[0, 1] > 0.95
  spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
  peak_hz = np.argmax(spectrum) * 16000 / len(samples)
  assert peak_hz == pytest.approx(utterance.pitch_hz, abs=2.0)


def test_sampling_is_deterministic_and_validated():
  a, b, c = _utterance(5), _utterance(5), _utterance(6)
  np.testing.assert_array_equal(a.syllables, b.syllables)
  assert a.pitch_hz == b.pitch_hz
  assert a.syllables.shape != c.syllables.shape or not np.array_equal(a.syllables, c.syllables)
  assert a.syllables[:, 0].max() < 4.0 <= (a.syllables[:, 0] + a.syllables[:, 1]).max() + 0.8
  with pytest.raises(ValueError, match='duration'):
    speech.sample_utterance(np.random.default_rng(0), 0.0)
