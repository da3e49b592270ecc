"""Per-frame and mean metrics of rendered frames against ground truth, as a text table and JSON."""

from collections.abc import Sequence
import json
import math
import os
import pathlib
from typing import Any

import jax
import numpy as np

from dfrf_jax.eval import metrics
from dfrf_jax.eval.lpips import LpipsFn

PathLike = str | os.PathLike[str]

_NOT_COMPUTED = 'n/a'
_psnr = jax.jit(metrics.psnr)
_ssim = jax.jit(metrics.ssim)


def _as_float01(frames: np.ndarray, name: str) -> np.ndarray:
  """[T, H, W, 3] uint8 (divided by 255) or float in [0, 1] as float32."""
  frames = np.asarray(frames)
  if frames.ndim != 4 or frames.shape[-1] != 3:
    raise ValueError(f'{name}: expected frames [T, H, W, 3], got shape {frames.shape}')
  if frames.dtype == np.uint8:
    return frames.astype(np.float32) / 255.0
  if not np.issubdtype(frames.dtype, np.floating):
    raise ValueError(f'{name}: expected uint8 or float frames in [0, 1], got {frames.dtype}')
  return frames.astype(np.float32)


def evaluate_frames(pred: np.ndarray, gt: np.ndarray,
                    lpips_fn: LpipsFn | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
  """PSNR, SSIM and (when given a distance) LPIPS of each frame, and their means.

  Args:
    pred: [T, H, W, 3] rendered frames, uint8 or float in [0, 1].
    gt: [T, H, W, 3] ground-truth frames, uint8 or float in [0, 1].
    lpips_fn: ([H, W, 3], [H, W, 3]) -> scalar distance, e.g. `lpips.make_lpips_fn(params)`;
      None when no LPIPS weights are configured.

  Returns:
    per_frame: T dicts {'frame': i, 'psnr': dB, 'ssim': ..., 'lpips': ... or None}.
    summary: {'num_frames': T, 'psnr': mean dB, 'ssim': mean, 'lpips': mean or None}; None marks
      LPIPS as not computed.

  Raises:
    ValueError: for frames of the wrong shape or dtype, different shapes, or no frames.
  """
  pred, gt = _as_float01(pred, 'pred'), _as_float01(gt, 'gt')
  if pred.shape != gt.shape or pred.shape[0] == 0:
    raise ValueError(f'pred and gt must have the same shape [T >= 1, H, W, 3], got {pred.shape} '
                     f'and {gt.shape}')
  per_frame = []
  for i, (p, g) in enumerate(zip(pred, gt)):
    per_frame.append({
        'frame': i,
        'psnr': float(_psnr(p, g)),
        'ssim': float(_ssim(p, g)),
        'lpips': None if lpips_fn is None else float(lpips_fn(p, g)),
    })
  summary = {'num_frames': len(per_frame)}
  for key in ('psnr', 'ssim', 'lpips'):
    values = [row[key] for row in per_frame]
    summary[key] = None if values[0] is None else float(np.mean(values))
  return per_frame, summary


def baseline_metrics(bg: np.ndarray, gt: np.ndarray,
                     lpips_fn: LpipsFn | None = None) -> dict[str, Any]:
  """Mean metrics of the background/torso plates alone: the score of rendering no head at all.

  Args:
    bg: [T, H, W, 3] per-frame plates (e.g. the dataset's torso images) or one [H, W, 3] plate
      (e.g. `bc.jpg`) used for every frame; uint8 or float in [0, 1].
    gt: [T, H, W, 3] ground-truth frames.
    lpips_fn: as in `evaluate_frames`.

  Returns:
    The summary dict of `evaluate_frames(bg, gt, lpips_fn)`.
  """
  bg, gt = np.asarray(bg), np.asarray(gt)
  if bg.ndim == 3 and gt.ndim == 4:
    bg = np.broadcast_to(bg, gt.shape)
  return evaluate_frames(bg, gt, lpips_fn)[1]


def background_only_warning(frames: np.ndarray, plates: np.ndarray, *, tolerance: float = 0.05,
                            min_share: float = 0.005) -> str | None:
  """A warning when rendered frames show nothing but their background plates, else None.

  A model one of whose radiance fields never learned (a dead field, docs/training.md) renders the
  plate of every frame: fewer than `min_share` of its pixels differ from the plate by more than
  `tolerance` in any channel, where any rendered head changes far more.

  Args:
    frames: [T, H, W, 3] rendered frames, uint8 or float in [0, 1].
    plates: [T, H, W, 3] the torso/background plates they were rendered over.
    tolerance: a pixel counts as changed when a channel differs by more than this.
    min_share: below this share of changed pixels the frames are the plates.
  """
  frames, plates = _as_float01(frames, 'frames'), _as_float01(plates, 'plates')
  if frames.shape != plates.shape:
    raise ValueError(f'frames {frames.shape} and plates {plates.shape} differ in shape')
  share = float(np.mean(np.max(np.abs(frames - plates), -1) > tolerance))
  if share >= min_share:
    return None
  return (f'warning: the rendered frames are the background plates (only {share:.2%} of the pixels '
          f'differ from them by more than {tolerance}): the model renders no head. Was it trained '
          'with a dead radiance field? See docs/training.md, "Dead fields".')


def _cell(value: Any) -> str:
  if value is None:
    return _NOT_COMPUTED
  if isinstance(value, float):
    return 'inf' if math.isinf(value) else f'{value:.4f}'
  return str(value)


def metrics_table(rows: Sequence[dict[str, Any]]) -> str:
  """An aligned text table: one line per row, one column per key (in order of first appearance).

  Text is left-aligned, numbers right-aligned, floats shown with 4 decimals. A missing or None
  value shows as 'n/a' and a note under the table names the columns not computed.

  Args:
    rows: e.g. [{'name': 'model', 'psnr': 31.2, 'ssim': 0.95, 'lpips': None},
      {'name': 'background only', ...}].

  Returns:
    The table, lines joined by newlines (no trailing newline).
  """
  columns = list(dict.fromkeys(key for row in rows for key in row))
  cells = [[_cell(row.get(c)) for c in columns] for row in rows]
  numeric = [all(isinstance(row.get(c), (int, float)) or row.get(c) is None for row in rows)
             for c in columns]
  widths = [max([len(c)] + [len(line[j]) for line in cells]) for j, c in enumerate(columns)]

  def line(values: Sequence[str]) -> str:
    return '  '.join(v.rjust(w) if n else v.ljust(w)
                     for v, w, n in zip(values, widths, numeric)).rstrip()

  lines = [line(columns), '  '.join('-' * w for w in widths)] + [line(c) for c in cells]
  missing = [c for c in columns if any(row.get(c) is None for row in rows)]
  if missing:
    note = f'{_NOT_COMPUTED}: not computed ({", ".join(missing)})'
    if 'lpips' in missing:
      note += '; LPIPS is only reported when its AlexNet and LPIPS weight files are given'
    lines.append(note)
  return '\n'.join(lines)


def write_metrics_json(path: PathLike, per_frame: Sequence[dict[str, Any]],
                       summary: dict[str, Any]) -> None:
  """Writes {**summary, 'per_frame': per_frame} as indented JSON (the summary's keys at the top).

  None (not computed) becomes null; numpy/JAX scalars become numbers; an infinite value (the PSNR
  of identical frames) becomes the string "inf", since JSON has no infinity.

  Raises:
    ValueError: naming the file, if a value is NaN or not JSON-serialisable.
  """
  path = pathlib.Path(path)
  try:
    text = json.dumps(_jsonable({**summary, 'per_frame': list(per_frame)}), indent=2,
                      allow_nan=False)
  except (TypeError, ValueError) as e:
    raise ValueError(f'{path}: cannot write metrics as JSON ({e})') from e
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(text + '\n')


def _jsonable(value: Any) -> Any:
  """Nested dicts/lists with numpy and JAX scalars as python numbers and infinities as strings."""
  if isinstance(value, dict):
    return {k: _jsonable(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_jsonable(v) for v in value]
  if isinstance(value, (np.generic, jax.Array)) and np.ndim(value) == 0:
    value = np.asarray(value).item()
  if isinstance(value, float) and math.isinf(value):
    return 'inf' if value > 0 else '-inf'
  return value
