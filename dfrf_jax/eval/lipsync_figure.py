"""The lip-sync picture (Pillow only): the mouth opening over time and mouth crops at its extremes.

Top: a line plot of each series over frames (ground truth black, model red, further series blue),
each scaled to the range of all series together. Bottom: a strip of mouth crops at the frames of
the smallest and the largest reference openings, ground truth above and render below, in frame
order of those openings (smallest first).
"""

import os

import chex
import numpy as np
from PIL import Image, ImageDraw

_COLOURS = ((0, 0, 0), (220, 40, 40), (40, 90, 220), (40, 160, 60))
_PLOT_HEIGHT = 160
_MARGIN = 8
_CROP_HEIGHT = 64


def opening_plot(series: dict[str, np.ndarray], width: int) -> Image.Image:
  """Line plot of named series [T] over frames, a legend line on top: an RGB image [160, width]."""
  image = Image.new('RGB', (width, _PLOT_HEIGHT), 'white')
  draw = ImageDraw.Draw(image)
  values = np.concatenate([np.asarray(v, np.float64) for v in series.values()])
  low, high = float(values.min()), float(values.max())
  span = high - low if high > low else 1.0
  top, bottom = 18, _PLOT_HEIGHT - _MARGIN
  draw.rectangle([_MARGIN - 1, top - 1, width - _MARGIN, bottom + 1], outline=(180, 180, 180))
  legend_x = _MARGIN
  for (name, values), colour in zip(series.items(), _COLOURS):
    values = np.asarray(values, np.float64)
    xs = _MARGIN + np.linspace(0, width - 2 * _MARGIN, len(values)) if len(values) > 1 else [
        width / 2]
    ys = bottom - (values - low) / span * (bottom - top)
    points = [(float(x), float(y)) for x, y in zip(xs, ys)]
    if len(points) > 1:
      draw.line(points, fill=colour, width=2)
    else:
      draw.ellipse([points[0][0] - 2, points[0][1] - 2, points[0][0] + 2, points[0][1] + 2],
                   fill=colour)
    draw.text((legend_x, 3), name, fill=colour)
    legend_x += 8 * len(name) + 16
  return image


def crop_strip(gt_crops: np.ndarray, pred_crops: np.ndarray, picks: np.ndarray) -> Image.Image:
  """Ground-truth crops above rendered ones at frames `picks` [N]: an RGB image.

  Args:
    gt_crops, pred_crops: [T, h, w, 3] float in [0, 1] (or uint8).
    picks: [N] frame indices, left to right.
  """
  chex.assert_equal_shape((gt_crops, pred_crops))
  scale = max(1, _CROP_HEIGHT // gt_crops.shape[1])
  rows = []
  for crops in (gt_crops, pred_crops):
    tiles = [_uint8(crops[i]).repeat(scale, 0).repeat(scale, 1) for i in picks]
    gap = np.full((tiles[0].shape[0], 2, 3), 255, np.uint8)
    rows.append(np.concatenate([t for tile in tiles for t in (tile, gap)][:-1], axis=1))
  spacer = np.full((2, rows[0].shape[1], 3), 255, np.uint8)
  return Image.fromarray(np.concatenate([rows[0], spacer, rows[1]], axis=0))


def extreme_frames(reference: np.ndarray, count: int = 3) -> np.ndarray:
  """The `count` frames of smallest, then of largest reference opening [T]: [min(T, 2 count)].

  Indices in increasing order of the reference (all frames when there are at most 2 count).
  """
  order = np.argsort(np.asarray(reference), kind='stable')
  if len(order) <= 2 * count:
    return order
  return np.concatenate([order[:count], order[-count:]])


def write_figure(path: str, series: dict[str, np.ndarray], reference: np.ndarray,
                 gt_crops: np.ndarray, pred_crops: np.ndarray) -> None:
  """Writes the picture: `opening_plot(series)` above `crop_strip` at `extreme_frames(reference)`.

  Args:
    path: PNG file to write (its folder must exist).
    series: name -> [T] opening over frames, ground truth first.
    reference: [T] opening whose extremes pick the crops.
    gt_crops, pred_crops: [T, h, w, 3] mouth crops.
  """
  strip = crop_strip(gt_crops, pred_crops, extreme_frames(reference))
  width = max(320, strip.width + 2 * _MARGIN)
  plot = opening_plot(series, width)
  image = Image.new('RGB', (width, plot.height + strip.height + _MARGIN), 'white')
  image.paste(plot, (0, 0))
  image.paste(strip, ((width - strip.width) // 2, plot.height))
  image.save(os.fspath(path))


def _uint8(image: np.ndarray) -> np.ndarray:
  image = np.asarray(image)
  if image.dtype == np.uint8:
    return image
  return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
