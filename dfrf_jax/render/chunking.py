"""Applying a per-point function to a long batch in fixed-size pieces, inside one compiled program."""

from typing import Any, Callable

import jax
import jax.numpy as jnp

# Points per network call when the config leaves it to the backend (0). On CPUs a call's activations
# should stay in cache: on the demo model a 128 px accelerated frame took 2.4 s with 1024-2048,
# 3.3 s with 4096 and 5.0 s with 65536 points per call (2 cores); with chunks of padding skipped,
# 1024 beat 2048 by about 10% at 64 and 128 px (medians of 7 interleaved renders). GPUs want large
# calls.
CPU_POINT_CHUNK = 1024
ACCELERATOR_POINT_CHUNK = 65536


def points_per_call(point_chunk: int) -> int:
  """`point_chunk` if positive; for 0 the backend's default (CPU_POINT_CHUNK or ACCELERATOR_POINT_CHUNK)."""
  if point_chunk < 0:
    raise ValueError(f'config.render.accel.point_chunk must be >= 0 (0: by backend), got {point_chunk}')
  if point_chunk:
    return point_chunk
  return CPU_POINT_CHUNK if jax.default_backend() == 'cpu' else ACCELERATOR_POINT_CHUNK


def map_in_chunks(fn: Callable[..., Any], args: tuple[jax.Array, ...], chunk: int,
                  num_valid: jax.Array | None = None) -> Any:
  """Evaluates `fn(*args)` on equal slices of at most `chunk` rows (`lax.map`), then concatenates.

  `fn` must act row by row (row i of every output depends only on row i of every input). The P rows
  are cut into ceil(P / chunk) slices of equal size, the last row repeated to fill the last one
  (fewer than one row per slice of padding); the padding is cut off again.

  Args:
    fn: maps arrays with a leading axis of size n to a pytree of arrays with leading axis n.
    args: arrays sharing the leading axis size P.
    chunk: rows per call (at least 1).
    num_valid: [] int, or None. Rows from `num_valid` on are padding whose outputs the caller
      discards: a slice that holds only such rows is not evaluated (`lax.cond`) and returns zeros.
      A compacted sample list pays only for the slices its samples fill, not for its whole budget.

  Returns:
    fn's pytree with leading axis P.
  """
  if chunk < 1:
    raise ValueError(f'map_in_chunks: chunk must be at least 1, got {chunk}.')
  num = args[0].shape[0]
  if num <= chunk and num_valid is None:
    return fn(*args)
  num_chunks = -(-num // chunk)
  chunk = -(-num // num_chunks)
  pad = num_chunks * chunk - num

  def pieces(x):
    x = jnp.concatenate([x, jnp.broadcast_to(x[-1:], (pad,) + x.shape[1:])])
    return x.reshape((num_chunks, chunk) + x.shape[1:])

  sliced = tuple(pieces(x) for x in args)
  if num_valid is None:
    out = jax.lax.map(lambda a: fn(*a), sliced)
  else:
    shapes = jax.eval_shape(fn, *(x[0] for x in sliced))
    skip = lambda *_: jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
    starts = jnp.arange(num_chunks, dtype=jnp.int32) * chunk
    out = jax.lax.map(lambda a: jax.lax.cond(a[0] < num_valid, fn, skip, *a[1]),
                      (starts, sliced))
  return jax.tree.map(lambda y: y.reshape((num_chunks * chunk,) + y.shape[2:])[:num], out)
