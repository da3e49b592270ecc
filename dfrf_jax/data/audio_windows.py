"""Gathers the frames around one frame that AudioAttNet smooths over, zero-padded at the ends."""

import chex
import numpy as np


def smoothing_window(aud_windows: np.ndarray, index: int, smo_size: int = 8, *,
                     valid_count: int) -> np.ndarray:
  """DeepSpeech windows of frames index - smo_size/2 ... index + smo_size/2 - 1.

  The window is asymmetric as the authors' (8 frames: 4 before, the frame itself, 3 after).
  Positions are indices into `aud_windows` (the authors use train-list positions in training and
  test-list positions when rendering); those outside [0, valid_count) give zero windows.

  Args:
    aud_windows: [F, 16, D] per-frame DeepSpeech windows, in list order.
    index: position of the centre frame, in [0, valid_count).
    smo_size: window length in frames (config `model.smo_size`), even.
    valid_count: number of leading rows of `aud_windows` that may be used (the authors: the
      number of train frames in training, all test frames when rendering).

  Returns:
    [smo_size, 16, D] windows, same dtype as `aud_windows`.
  """
  chex.assert_rank(aud_windows, 3)
  if smo_size <= 0 or smo_size % 2:
    raise ValueError(f'smo_size = {smo_size}, expected a positive even number')
  if not 0 < valid_count <= len(aud_windows):
    raise ValueError(f'valid_count = {valid_count}, expected 1..{len(aud_windows)} (rows given)')
  if not 0 <= index < valid_count:
    raise ValueError(f'index = {index}, expected 0..{valid_count - 1}')
  positions = index - smo_size // 2 + np.arange(smo_size)
  valid = (positions >= 0) & (positions < valid_count)
  window = aud_windows[np.clip(positions, 0, valid_count - 1)]
  return np.where(valid[:, None, None], window, np.zeros_like(window))
