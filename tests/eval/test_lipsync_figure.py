"""Tests for dfrf_jax.eval.lipsync_figure."""

import numpy as np
from PIL import Image

from dfrf_jax.eval import lipsync_figure


def test_extreme_frames_are_the_smallest_then_the_largest():
  reference = np.array([0.5, 0.1, 0.9, 0.0, 0.7, 0.3, 1.0, 0.2])
  np.testing.assert_array_equal(lipsync_figure.extreme_frames(reference, 2), [3, 1, 2, 6])
  np.testing.assert_array_equal(lipsync_figure.extreme_frames(reference[:3], 2), [1, 0, 2])


def test_figure_shows_the_plot_and_the_crops(tmp_path):
  rng = np.random.default_rng(0)
  gt = rng.uniform(size=(10, 8, 12, 3))
  pred = np.zeros_like(gt)
  opening = np.linspace(0, 1, 10)
  path = tmp_path / 'lipsync.png'
  lipsync_figure.write_figure(str(path), {'ground truth': opening, 'model': 0.5 * opening},
                              opening, gt, pred)
  image = np.asarray(Image.open(path).convert('RGB'))
  assert image.shape[1] >= 320
  strip = image[160:]                                     # below the plot: two rows of crops
  assert np.any(np.all(strip == 0, axis=-1))              # the black render crops
  plot = image[:160]
  assert np.any(np.all(plot == [220, 40, 40], axis=-1))   # the model's red line
