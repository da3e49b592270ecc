"""Chooses the reference frames (positions in an identity's train list) as the authors do."""

import numpy as np

from dfrf_jax.data.dataset import Split
from dfrf_jax.data.errors import DatasetError


def training_references(rng: np.random.Generator, train: Split, target: int,
                        num_refs: int) -> np.ndarray:
  """References for one training step: a random permutation of the other train frames, first N.

  Args:
    rng: source of randomness (one permutation is drawn).
    train: the identity's train split.
    target: position of the target frame in `train`; it is never a reference.
    num_refs: N, the number of references.

  Returns:
    [num_refs] int64 distinct positions in `train`, none equal to `target`.
  """
  if not 0 <= target < len(train):
    raise ValueError(f'target position {target} is outside the train list of {len(train)} frames')
  if len(train) - 1 < num_refs:
    raise DatasetError(f'{train.source}: {len(train)} train frames, expected at least '
                       f'{num_refs + 1} (the target plus {num_refs} references)')
  others = np.delete(np.arange(len(train)), target)
  return rng.permutation(others)[:num_refs]


def render_references(train: Split, positions: tuple[int, ...], num_refs: int) -> np.ndarray:
  """Fixed references for rendering: train-list positions, as the authors' `refer_from_train`.

  Args:
    train: the identity's train split.
    positions: train-list positions to use (config `data.test_ref_positions`, the authors'
      50, 100, 150, 200); the first `num_refs` are taken. Empty: `num_refs` evenly spaced
      positions, the centres of `num_refs` equal parts of the train list (for short clips).
    num_refs: N, the number of references.

  Returns:
    [num_refs] int64 positions in `train`.
  """
  if not positions:
    if len(train) < num_refs:
      raise DatasetError(f'{train.source}: {len(train)} train frames, expected at least '
                         f'{num_refs} to pick {num_refs} references')
    return (2 * np.arange(num_refs) + 1) * len(train) // (2 * num_refs)
  if len(positions) < num_refs:
    raise ValueError(f'test_ref_positions {tuple(positions)} names fewer than {num_refs} '
                     'references')
  chosen = np.asarray(positions[:num_refs], np.int64)
  if chosen.min() < 0 or chosen.max() >= len(train):
    raise DatasetError(f'{train.source}: {len(train)} train frames, but the test references are '
                       f'train positions {chosen.tolist()}; expected at least {chosen.max() + 1} '
                       f'frames (or set data.test_ref_positions = () for evenly spaced ones)')
  return chosen
