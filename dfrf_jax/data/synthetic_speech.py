"""A speech-like signal for the synthetic dataset: mouth opening, audio features and waveform.

One `Utterance` (a sequence of syllables) defines a smooth mouth opening o(t) in [0, 1). Everything
the dataset stores about sound is a deterministic function of it:

  * the mouth of the rendered head opens by o(k / 25 s) in video frame k;
  * `aud.npy` holds DeepSpeech-shaped windows [F, 16, 29]: rows at 50 Hz, row r describing time
    r / 50 s with 29 smooth nonlinear functions of o and do/dt (a stand-in for the 29 logits), and
    window k holding rows 2k-8 ... 2k+7, zero outside the M = 2F - 1 rows the authors' extractor
    produces for a clip of F / 25 s (spec section 2.2);
  * `aud.wav` is a 16 kHz voiced carrier (a pitch and three overtones) whose amplitude is o(t).

So the audio features really predict the mouth, which is what an audio-driven model has to learn.
"""

import dataclasses

import numpy as np

FRAME_RATE = 25.0      # video frames per second (the authors' implicit assumption)
FEATURE_RATE = 50.0    # audio feature rows per second (DeepSpeech's 20 ms step)
WINDOW_ROWS = 16       # rows per window (the authors' win_size)
WINDOW_LEAD = 8        # window k starts at row 2k - WINDOW_LEAD
NUM_FEATURES = 29      # features per row (DeepSpeech's 29 logits)
SAMPLE_RATE = 16000    # aud.wav samples per second

_FEATURE_SCALE = 3.0   # features span about +-3, like logits
_RATE_SCALE = 8.0      # do/dt (1/s) is divided by this before entering the feature bank


@dataclasses.dataclass(frozen=True)
class Utterance:
  """A sequence of syllables, each a smooth bump of mouth opening.

  Attributes:
    syllables: [S, 3] float64 rows (onset in s, duration in s, peak strength > 0).
    pitch_hz: fundamental frequency of the voiced carrier in aud.wav.
  """
  syllables: np.ndarray
  pitch_hz: float


def sample_utterance(rng: np.random.Generator, duration: float) -> Utterance:
  """Draws syllables (0.12-0.28 s, short gaps, occasional pauses) covering `duration` seconds."""
  if duration <= 0:
    raise ValueError(f'duration must be positive, got {duration}')
  syllables = []
  t = rng.uniform(0.0, 0.3)
  while t < duration:
    length = rng.uniform(0.12, 0.28)
    syllables.append((t, length, rng.uniform(0.3, 1.6)))
    t += length * rng.uniform(0.55, 1.0)           # neighbouring syllables overlap a little
    if rng.uniform() < 0.12:
      t += rng.uniform(0.3, 0.8)                    # a pause between phrases
  return Utterance(syllables=np.asarray(syllables, np.float64).reshape(-1, 3),
                   pitch_hz=float(rng.uniform(95.0, 220.0)))


def mouth_opening(utterance: Utterance, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Mouth opening and its time derivative.

  o(t) = tanh(s(t)) with s(t) = sum_i peak_i sin^2(pi (t - onset_i) / duration_i) over the
  syllables active at t, so o is smooth, 0 in pauses and below 1.

  Args:
    utterance: the syllables.
    times: [T] seconds.

  Returns:
    opening: [T] float64 in [0, 1).
    rate: [T] float64 do/dt in 1/s.
  """
  times = np.asarray(times, np.float64)[:, None]
  onset, length, peak = (utterance.syllables[None, :, i] for i in range(3))
  phase = (times - onset) / length
  active = (phase >= 0.0) & (phase <= 1.0)
  strength = np.sum(np.where(active, peak * np.sin(np.pi * phase)**2, 0.0), axis=1)
  strength_rate = np.sum(np.where(active, peak * np.pi / length * np.sin(2 * np.pi * phase), 0.0),
                         axis=1)
  opening = np.tanh(strength)
  return opening, (1.0 - opening**2) * strength_rate


def feature_rows(opening: np.ndarray, rate: np.ndarray) -> np.ndarray:
  """The 29 features of each time step: [T] opening, [T] rate (1/s) -> [T, 29] float64.

  Feature j is 3 tanh(g_j (cos(a_j) o + sin(a_j) rate / 8) + b_j): a fixed bank of smooth ridge
  functions in the (opening, rate) plane, with directions a_j spread around the circle, gains g_j in
  {2, 3, 4} and offsets b_j in [-1.5, 1.5]. The bank is the same for every identity, like a
  speaker-independent speech recogniser.
  """
  j = np.arange(NUM_FEATURES, dtype=np.float64)
  angle = 2 * np.pi * j / NUM_FEATURES
  gain = 2.0 + j % 3
  offset = 1.5 * np.cos(3.7 * j)
  x = np.cos(angle) * opening[:, None] + np.sin(angle) * (rate[:, None] / _RATE_SCALE)
  return _FEATURE_SCALE * np.tanh(gain * x + offset)


def audio_windows(utterance: Utterance, num_frames: int) -> np.ndarray:
  """DeepSpeech-layout windows of a clip of `num_frames` video frames: [F, 16, 29] float32.

  Rows exist at times r / 50 s for r = 0 ... 2F - 2 (the authors' extractor yields
  round(duration * 50) - 1 rows); window k holds rows 2k - 8 ... 2k + 7, zero where a row does not
  exist. Row 2k (window position 8) describes the time k / 25 s of video frame k.
  """
  num_rows = 2 * num_frames - 1
  opening, rate = mouth_opening(utterance, np.arange(num_rows) / FEATURE_RATE)
  rows = feature_rows(opening, rate)
  index = 2 * np.arange(num_frames)[:, None] - WINDOW_LEAD + np.arange(WINDOW_ROWS)[None, :]
  inside = (index >= 0) & (index < num_rows)
  windows = np.where(inside[..., None], rows[np.clip(index, 0, num_rows - 1)], 0.0)
  return windows.astype(np.float32)


def waveform(utterance: Utterance, num_frames: int) -> np.ndarray:
  """16 kHz mono int16 samples of a clip of `num_frames` video frames.

  A voiced carrier (pitch plus overtones 2-4 at amplitudes 1/h) amplitude-modulated by o(t).
  """
  num_samples = int(round(num_frames / FRAME_RATE * SAMPLE_RATE))
  t = np.arange(num_samples) / SAMPLE_RATE
  harmonics = np.arange(1, 5, dtype=np.float64)
  carrier = np.sin(2 * np.pi * utterance.pitch_hz * harmonics[None, :] * t[:, None]) / harmonics
  carrier = carrier.sum(axis=1) / np.sum(1.0 / harmonics)
  opening, _ = mouth_opening(utterance, t)
  return np.round(0.8 * 32767 * opening * carrier).astype(np.int16)
