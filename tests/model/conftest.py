"""Inputs for one query of the assembled model, and the jitted query, shared by the model tests."""

import functools

import jax
import numpy as np

from dfrf_jax.model.dfrf import DFRF


def query_inputs(seed: int = 0, num_points: int = 12, size: int = 16) -> tuple[np.ndarray, ...]:
  """4 reference images [4, size, size, 3] and poses, sample points and view directions, an audio code."""
  rng = np.random.default_rng(seed)
  images = rng.uniform(size=(4, size, size, 3)).astype(np.float32)
  poses = np.tile(np.eye(4, dtype=np.float32)[:3], (4, 1, 1))
  poses[:, :, 3] = [[0.02 * i, 0.0, 1.0] for i in range(4)]
  points = rng.normal(scale=0.05, size=(num_points, 3)).astype(np.float32)
  viewdirs = np.tile(np.array([[0.0, 0.0, -1.0]], np.float32), (num_points, 1))
  code = rng.normal(size=(64,)).astype(np.float32)
  return images, poses, points, viewdirs, code


@functools.partial(jax.jit, static_argnames=('model', 'use_warp'))  # one compilation, not op by op
def query(model: DFRF, params: dict, images, poses, points, viewdirs, code, use_warp: bool = True):
  """Reference features, then the fine query at focal 20 without slot noise."""
  feats = model.apply({'params': params}, images, poses, method=DFRF.reference_features)
  return model.apply({'params': params}, points, viewdirs, code, feats, poses, 20.0, None, True,
                     use_warp, method=DFRF.query)
