"""Lip-sync measures on synthetic data, where each frame's true mouth opening is known.

Full-frame PSNR cannot see the mouth (under 2 % of the pixels). These measures look only inside a
mouth box of one fixed size per sequence that moves with the head (`fixed_size_boxes`):

  * the mouth opening of a frame, measured from its pixels: the darkness of the box,
    mean(max(0, tau - luminance) / tau), the share of the box the dark mouth cavity covers, where
    the threshold tau is calibrated once on the ground-truth frames (`calibrate_threshold`) and
    then used on ground truth and renders alike, so both are measured the same way;
  * `opening_scores`: Pearson r of the measured opening with the true opening over frames, the
    ratio of its standard deviation to the ground truth's (0 for a frozen mouth, 1 for a mouth
    that moves as much as the real one) and the mouth-region PSNR;
  * `frozen_mouths`: the frozen-mouth baseline, the ground-truth frames with the mean ground-truth
    mouth pasted into every frame's box, scored the same way;
  * `audio_swap`: renders of the same poses driven by other audio must follow the driving audio's
    opening (slope relative to the ground truth's) and not the frames' own (correlation near 0).

Openings are dimensionless: the true one in [0, 1] (synth_meta.json's mouth_opening), the measured
one the dark share of the box in [0, 1].
"""

import chex
import numpy as np

# Candidate thresholds: these quantiles of the ground-truth boxes' luminance.
_THRESHOLD_QUANTILES = np.linspace(0.01, 0.5, 50)
# Rec. 709 luma weights.
_LUMA = np.array([0.2126, 0.7152, 0.0722])


def fixed_size_boxes(rects: np.ndarray, height: int, width: int) -> np.ndarray:
  """Boxes of one size, the largest of `rects`, centred on each rect and shifted into the image.

  Args:
    rects: [T, 4] int (x, y, w, h), x a column, inclusive extent x..x+w (the authors' lip_rect).
    height, width: image size in pixels.

  Returns:
    [T, 4] int64 boxes (x, y, w, h) with the same w and h, each inside the image.
  """
  rects = np.asarray(rects, np.int64)
  chex.assert_rank(rects, 2)
  chex.assert_axis_dimension(rects, 1, 4)
  w = min(int(rects[:, 2].max()), width - 1)
  h = min(int(rects[:, 3].max()), height - 1)
  cx = rects[:, 0] + rects[:, 2] / 2.0
  cy = rects[:, 1] + rects[:, 3] / 2.0
  x = np.clip(np.round(cx - w / 2.0).astype(np.int64), 0, width - 1 - w)
  y = np.clip(np.round(cy - h / 2.0).astype(np.int64), 0, height - 1 - h)
  return np.stack([x, y, np.full_like(x, w), np.full_like(y, h)], axis=1)


def crop_mouths(frames: np.ndarray, boxes: np.ndarray) -> np.ndarray:
  """The pixels of each frame's box: [T, H, W, C], [T, 4] fixed-size boxes -> [T, h + 1, w + 1, C]."""
  chex.assert_rank(frames, 4)
  chex.assert_shape(boxes, (frames.shape[0], 4))
  return np.stack([f[y:y + h + 1, x:x + w + 1] for f, (x, y, w, h) in zip(frames, boxes)])


def paste_mouths(frames: np.ndarray, boxes: np.ndarray, crops: np.ndarray) -> np.ndarray:
  """Frames with crops [T, h + 1, w + 1, C] written into their boxes [T, 4]: [T, H, W, C], a copy."""
  chex.assert_rank(frames, 4)
  chex.assert_shape(boxes, (frames.shape[0], 4))
  out = np.array(frames, copy=True)
  for frame, (x, y, w, h), crop in zip(out, boxes, crops):
    frame[y:y + h + 1, x:x + w + 1] = crop
  return out


def frozen_mouths(gt: np.ndarray, boxes: np.ndarray) -> np.ndarray:
  """The frozen-mouth baseline: ground truth [T, H, W, 3] with the mean mouth in each box [T, 4]."""
  crops = crop_mouths(gt, boxes).astype(np.float64)
  mean = np.broadcast_to(crops.mean(axis=0), crops.shape).astype(gt.dtype)
  return paste_mouths(gt, boxes, mean)


def darkness(crops: np.ndarray, threshold: float) -> np.ndarray:
  """The measured opening: mean(max(0, threshold - luminance) / threshold) per crop.

  Args:
    crops: [T, h, w, 3] float in [0, 1].
    threshold: luminance below which a pixel counts as (partly) mouth cavity, in (0, 1].

  Returns:
    [T] float64 in [0, 1].
  """
  chex.assert_rank(crops, 4)
  if not 0.0 < threshold <= 1.0:
    raise ValueError(f'threshold must lie in (0, 1], got {threshold}')
  luma = np.asarray(crops, np.float64) @ _LUMA
  return np.mean(np.maximum(threshold - luma, 0.0), axis=(1, 2)) / threshold


def calibrate_threshold(gt_crops: np.ndarray, opening: np.ndarray) -> float:
  """The darkness threshold whose measure of the ground truth best follows the true opening.

  Args:
    gt_crops: [T, h, w, 3] ground-truth mouth crops, float in [0, 1].
    opening: [T] true mouth opening.

  Returns:
    Among the 1 %-50 % quantiles of the crops' luminance, the one maximising
    correlation(darkness(gt_crops, tau), opening).
  """
  chex.assert_rank(gt_crops, 4)
  chex.assert_shape(opening, (gt_crops.shape[0],))
  luma = np.asarray(gt_crops, np.float64) @ _LUMA
  candidates = np.unique(np.clip(np.quantile(luma, _THRESHOLD_QUANTILES), 1e-3, 1.0))
  scores = [correlation(darkness(gt_crops, float(t)), opening) for t in candidates]
  return float(candidates[int(np.argmax(scores))])


def correlation(x: np.ndarray, y: np.ndarray) -> float:
  """Pearson r of two series [T]; 0 when either is constant (it does not co-vary)."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  chex.assert_equal_shape((x, y))
  dx, dy = x - x.mean(), y - y.mean()
  norm = np.sqrt(np.sum(dx**2) * np.sum(dy**2))
  return float(np.sum(dx * dy) / norm) if norm > 0 else 0.0


def slope(y: np.ndarray, x: np.ndarray) -> float:
  """Least-squares slope of y on x over frames ([T] each); 0 when x is constant."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  chex.assert_equal_shape((x, y))
  dx = x - x.mean()
  var = np.sum(dx**2)
  return float(np.sum(dx * (y - y.mean())) / var) if var > 0 else 0.0


def spread_ratio(x: np.ndarray, reference: np.ndarray) -> float:
  """std(x) / std(reference) over frames ([T] each); 0 when the reference is constant."""
  ref_std = float(np.std(reference))
  return float(np.std(x)) / ref_std if ref_std > 0 else 0.0


def mouth_psnr(pred_crops: np.ndarray, gt_crops: np.ndarray) -> float:
  """Mean over frames of the PSNR (data range 1, dB) of mouth crops [T, h, w, 3]; inf if equal."""
  chex.assert_equal_shape((pred_crops, gt_crops))
  diff = np.asarray(pred_crops, np.float64) - np.asarray(gt_crops, np.float64)
  mse = np.mean(diff**2, axis=(1, 2, 3))
  with np.errstate(divide='ignore'):
    return float(np.mean(-10.0 * np.log10(mse)))


def opening_scores(pred_crops: np.ndarray, gt_crops: np.ndarray, opening: np.ndarray,
                   threshold: float) -> dict[str, float | list[float]]:
  """How the mouth of some frames follows the truth.

  Args:
    pred_crops: [T, h, w, 3] mouth crops of the frames scored, float in [0, 1].
    gt_crops: [T, h, w, 3] ground-truth mouth crops.
    opening: [T] true opening.
    threshold: from `calibrate_threshold`.

  Returns:
    {'opening_r': r of the measured with the true opening, 'gt_r': r of the measured with the
     ground truth's measured opening, 'spread_ratio': std of the measured
     opening / the ground truth's, 'mouth_psnr': dB, 'opening': [T] measured opening}.
  """
  measured, gt_measured = darkness(pred_crops, threshold), darkness(gt_crops, threshold)
  return {'opening_r': correlation(measured, opening),
          'gt_r': correlation(measured, gt_measured),
          'spread_ratio': spread_ratio(measured, gt_measured),
          'mouth_psnr': mouth_psnr(pred_crops, gt_crops),
          'opening': measured.tolist()}


def synthetic_lipsync(pred: np.ndarray, gt: np.ndarray, opening: np.ndarray,
                      boxes: np.ndarray) -> dict:
  """Lip-sync scores of rendered frames, of the ground truth and of the frozen-mouth baseline.

  Args:
    pred: [T, H, W, 3] rendered frames, float in [0, 1].
    gt: [T, H, W, 3] ground-truth frames.
    opening: [T] true mouth opening of the frames.
    boxes: [T, 4] fixed-size mouth boxes (`fixed_size_boxes`).

  Returns:
    {'threshold': tau, 'gt_slope': slope of the ground truth's measured on the true opening
     (what `audio_swap` compares with), 'true_opening': [T],
     'model', 'frozen_mouth', 'ground_truth': `opening_scores` of each}.
  """
  chex.assert_equal_shape((pred, gt))
  chex.assert_shape(opening, (gt.shape[0],))
  gt_crops = crop_mouths(gt, boxes)
  threshold = calibrate_threshold(gt_crops, opening)
  frozen = crop_mouths(frozen_mouths(gt, boxes), boxes)
  return {
      'threshold': threshold,
      'gt_slope': slope(darkness(gt_crops, threshold), opening),
      'true_opening': np.asarray(opening, np.float64).tolist(),
      'model': opening_scores(crop_mouths(pred, boxes), gt_crops, opening, threshold),
      'frozen_mouth': opening_scores(frozen, gt_crops, opening, threshold),
      'ground_truth': opening_scores(gt_crops, gt_crops, opening, threshold),
  }


def audio_swap(rendered: np.ndarray, driving: np.ndarray, own: np.ndarray,
               gt_slope: float) -> dict[str, float]:
  """Whether renders of the same poses driven by other audio follow that audio's mouth.

  Args:
    rendered: [T] measured opening (`darkness`, the same threshold) of the swapped renders.
    driving: [T] true opening of the driving audio at each frame.
    own: [T] true opening of the frames' own audio (what the mouth must now ignore).
    gt_slope: the ground truth's slope of measured on true opening (`synthetic_lipsync`).

  Returns:
    {'slope_ratio': slope(rendered on driving) / gt_slope (1: the full amplitude),
     'driving_r': r with the driving opening, 'own_r': r with the frames' own opening (near 0 when
     the audio drives the mouth)}.
  """
  if gt_slope == 0:
    raise ValueError('gt_slope is 0: the ground truth\'s measured opening does not vary')
  return {'slope_ratio': slope(rendered, driving) / gt_slope,
          'driving_r': correlation(rendered, driving),
          'own_r': correlation(rendered, own)}
