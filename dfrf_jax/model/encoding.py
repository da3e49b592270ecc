"""NeRF positional encoding, in the authors' order."""

import jax.numpy as jnp


def positional_encoding(x: jnp.ndarray, num_freqs: int) -> jnp.ndarray:
  """gamma(x) = [x, sin(x), cos(x), sin(2x), cos(2x), ..., sin(2^(L-1) x), cos(2^(L-1) x)].

  Frequency-major, sine before cosine, no factor pi, the input included first.

  Args:
    x: [..., d] any units.
    num_freqs: L, the number of octaves.

  Returns:
    [..., d * (1 + 2L)].
  """
  parts = [x]
  for i in range(num_freqs):
    scaled = x * (2.0 ** i)
    parts += [jnp.sin(scaled), jnp.cos(scaled)]
  return jnp.concatenate(parts, -1)


def encoded_width(dim: int, num_freqs: int) -> int:
  """Width of `positional_encoding` of a `dim`-vector."""
  return dim * (1 + 2 * num_freqs)
