"""Lip-sync scores of an identity's rendered frames, as dfrf-render and dfrf-evaluate report them.

A dataset with a synth_meta.json (dfrf-make-synthetic) is scored against its true mouth opening
(`lipsync.synthetic_lipsync`), any other with dlib's landmarks (`lipsync_landmarks`, which needs
the preprocess extra). Both use a fixed-size mouth box per frame: synth_meta.json's mouth_box where
it has one, else the frame's lip_rect from the transforms JSON, enlarged to the largest of them.

The 'lipsync' entry of metrics.json holds:

  kind            'synthetic' or 'landmarks'
  figure          the picture's file name (next to metrics.json), `lipsync_figure.write_figure`
  model, frozen_mouth, ground_truth
                  the scores of the rendered frames, of the frozen-mouth baseline (the ground
                  truth with the mean ground-truth mouth pasted in) and of the ground truth itself:
                  synthetic: opening_r (r of the measured with the true opening), gt_r (r with
                  the ground truth's measured opening: 1 for the ground truth), spread_ratio
                  (std of the measured opening / the ground truth's), mouth_psnr (dB), opening
                  (per-frame measured opening, the dark share of the mouth box);
                  landmarks: lmd (mean mouth landmark distance, pixels), opening_r and
                  spread_ratio of the inner-lip gap against the ground truth's, opening (gap, px)
  synthetic also: threshold (luminance of the darkness measure), gt_slope (measured per unit of
                  true opening), true_opening (per frame)
  landmarks also: frames_with_face (frames whose ground truth shows a face; only they are
                  scored), ground_truth_opening (inner-lip gap, pixels)
  audio_swap      (synthetic, dfrf-render --audio_swap) the same poses driven by the audio in
                  reverse order, `lipsync.audio_swap`: slope_ratio (amplitude of the mouth's
                  response to the driving opening, 1 = the ground truth's), driving_r (r with the
                  driving audio's opening), own_r (r with the frames' own opening; near 0 when the
                  audio drives the mouth)
or, when the landmark model is not installed, {'kind': 'landmarks', 'skipped': why}.
"""

import json
import os
from typing import Any

import numpy as np

from dfrf_jax.data.dataset import Identity, Split
from dfrf_jax.errors import UserError
from dfrf_jax.eval import lipsync, lipsync_figure, lipsync_landmarks, report
from dfrf_jax.preprocess.errors import PreprocessError

SYNTH_META = 'synth_meta.json'
FIGURE = 'lipsync.png'
_ROW_KEYS = {'synthetic': ('opening_r', 'gt_r', 'spread_ratio', 'mouth_psnr'),
             'landmarks': ('lmd', 'opening_r', 'spread_ratio')}
_ROWS = (('model', 'model'), ('frozen_mouth', 'frozen mouth'), ('ground_truth', 'ground truth'))


def lip_rects(split: Split, positions: np.ndarray) -> np.ndarray:
  """The lip_rect [x, y, w, h] of the split's frames at `positions` [T]: [T, 4] int64."""
  if split.lip_rects is None:
    raise UserError(f'{split.source}: frames have no lip_rect; expected [x, y, w, h] on every frame '
                    'to place the mouth for the lip-sync scores')
  return np.asarray(split.lip_rects, np.int64)[np.asarray(positions, np.int64)]


def _synth_meta(identity: Identity) -> dict[str, Any] | None:
  path = os.path.join(identity.root, SYNTH_META)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    meta = json.load(f)
  if 'mouth_opening' not in meta:
    raise UserError(f'{path}: no mouth_opening; expected the per-frame opening the synthetic '
                    'generator writes')
  return meta


def score_identity(pred: np.ndarray, gt: np.ndarray, identity: Identity, split: Split,
                   positions: np.ndarray, out_dir: str) -> dict[str, Any]:
  """Lip-sync scores of rendered frames, and the picture written to out_dir/lipsync.png.

  Args:
    pred: [T, H, W, 3] rendered frames, float in [0, 1].
    gt: [T, H, W, 3] their ground truth, float in [0, 1].
    identity: the identity rendered.
    split: the split whose frames were rendered.
    positions: [T] positions of the frames in the split.
    out_dir: folder of the picture (that of metrics.json).

  Returns:
    The 'lipsync' entry of metrics.json (module docstring).
  """
  height, width = gt.shape[1:3]
  meta = _synth_meta(identity)
  boxes = _mouth_boxes(meta, split, positions, height, width)
  img_ids = split.img_ids[np.asarray(positions)]
  gt_crops, pred_crops = lipsync.crop_mouths(gt, boxes), lipsync.crop_mouths(pred, boxes)
  if meta is not None:
    opening = np.asarray(meta['mouth_opening'], np.float64)[img_ids]
    result = {'kind': 'synthetic', **lipsync.synthetic_lipsync(pred, gt, opening, boxes)}
    series = {'ground truth': result['ground_truth']['opening'],
              'model': result['model']['opening']}
    reference = opening
  else:
    try:
      scores = lipsync_landmarks.landmark_lipsync(pred, gt, boxes)
    except (ImportError, PreprocessError) as e:
      return {'kind': 'landmarks', 'skipped': f'no landmark model ({e})'}
    result = {'kind': 'landmarks', **scores}
    keep = scores['frames_with_face']
    if not keep:
      return result
    series = {'ground truth': scores['ground_truth_opening'], 'model': scores['model']['opening']}
    reference, gt_crops, pred_crops = series['ground truth'], gt_crops[keep], pred_crops[keep]
  lipsync_figure.write_figure(os.path.join(out_dir, FIGURE), series, np.asarray(reference),
                              gt_crops, pred_crops)
  return {**result, 'figure': FIGURE}


def _mouth_boxes(meta: dict[str, Any] | None, split: Split, positions: np.ndarray, height: int,
                 width: int) -> np.ndarray:
  """Fixed-size mouth boxes [T, 4] of the frames at `positions` (module docstring)."""
  if meta is not None and 'mouth_box' in meta:
    rects = np.asarray(meta['mouth_box'], np.int64)[split.img_ids[np.asarray(positions)]]
  else:
    rects = lip_rects(split, positions)
  return lipsync.fixed_size_boxes(rects, height, width)


def score_audio_swap(swapped: np.ndarray, identity: Identity, split: Split, positions: np.ndarray,
                     result: dict[str, Any]) -> dict[str, float]:
  """How frames rendered with their audio reversed (`sequence.audio_swap_plan`) follow it: the 'audio_swap' entry (module docstring).

  Args:
    swapped: [T, H, W, 3] the frames at `positions`, each driven by frame T-1-t's audio.
    identity: a synthetic identity (with synth_meta.json).
    split, positions: the rendered frames, as for `score_identity`.
    result: `score_identity`'s result for the same frames with their own audio (its threshold
      and gt_slope are reused, so both are measured alike).
  """
  meta = _synth_meta(identity)
  if meta is None or result.get('kind') != 'synthetic':
    raise UserError(f'{identity.root}: the audio-swap check needs a synthetic dataset (its '
                    f'{SYNTH_META} holds the true mouth opening)')
  boxes = _mouth_boxes(meta, split, positions, swapped.shape[1], swapped.shape[2])
  own = np.asarray(meta['mouth_opening'], np.float64)[split.img_ids[np.asarray(positions)]]
  measured = lipsync.darkness(lipsync.crop_mouths(swapped, boxes), result['threshold'])
  return lipsync.audio_swap(measured, own[::-1], own, result['gt_slope'])


def audio_swap_table(swap: dict[str, float]) -> str:
  """The audio-swap scores as a one-row text table."""
  return report.metrics_table([{'audio swap (reversed)': 'model', **swap}])


def lipsync_table(result: dict[str, Any]) -> str:
  """The scores of the model, the frozen mouth and the ground truth as a text table.

  Or one line saying why there are none (no landmark model, no face in the ground truth).
  """
  if 'skipped' in result:
    return f'lip-sync: not scored, {result["skipped"]}'
  if 'model' not in result:
    return 'lip-sync: not scored, no face found in the ground-truth frames'
  keys = _ROW_KEYS[result['kind']]
  return report.metrics_table([{'mouth': label, **{k: result[name][k] for k in keys}}
                               for name, label in _ROWS])
