"""Applying a per-point function to a long batch in fixed-size pieces, inside one compiled program."""

from typing import Any, Callable

import jax
import jax.numpy as jnp


def map_in_chunks(fn: Callable[..., Any], args: tuple[jax.Array, ...], chunk: int) -> Any:
  """Evaluates `fn(*args)` on slices of at most `chunk` rows (`lax.map`), then concatenates.

  `fn` must act row by row (row i of every output depends only on row i of every input). The rows
  are padded up to a multiple of `chunk` by repeating the last one; the padding is cut off again.

  Args:
    fn: maps arrays with a leading axis of size n to a pytree of arrays with leading axis n.
    args: arrays sharing the leading axis size P.
    chunk: rows per call (at least 1).

  Returns:
    fn's pytree with leading axis P.
  """
  if chunk < 1:
    raise ValueError(f'map_in_chunks: chunk must be at least 1, got {chunk}.')
  num = args[0].shape[0]
  if num <= chunk:
    return fn(*args)
  num_chunks = -(-num // chunk)
  pad = num_chunks * chunk - num

  def pieces(x):
    x = jnp.concatenate([x, jnp.broadcast_to(x[-1:], (pad,) + x.shape[1:])])
    return x.reshape((num_chunks, chunk) + x.shape[1:])

  out = jax.lax.map(lambda a: fn(*a), tuple(pieces(x) for x in args))
  return jax.tree.map(lambda y: y.reshape((num_chunks * chunk,) + y.shape[2:])[:num], out)
