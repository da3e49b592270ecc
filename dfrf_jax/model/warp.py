"""The audio-conditioned deformation module D_eta: a pixel offset per sample and reference (paper eq. 4)."""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from dfrf_jax.model.layers import ConcatDense, dense_dot_general


class WarpMLP(nn.Module):
  """[gamma(p), audio code, nearest reference feature] -> (d_row, d_col) in pixels, clamped to +-max_offset.

  Weights start N(0, 1e-3) with zero biases (the authors' init), so offsets start near zero. The
  three inputs are given apart (`ConcatDense`): gamma(p) is shared by every reference and the audio
  code by the whole frame, so their products with the first layer are computed once.
  """
  hidden: Sequence[int] = (128, 32)
  max_offset: float = 10.0
  precision: str = 'float32'  # of the kernel products (model/layers.py)

  @nn.compact
  def __call__(self, embedded: jax.Array, code: jax.Array, features: jax.Array) -> jax.Array:
    """embedded: [1, P, 63] gamma(p); code: [dim_aud]; features: [N, P, feature_dim] nearest
    reference features -> offsets [N, P, 2] pixels (row, col)."""
    init = nn.initializers.normal(1e-3)
    dot_general = dense_dot_general(self.precision)
    h = ConcatDense(self.hidden[0], self.precision, kernel_init=init,
                    bias_init=nn.initializers.zeros, name='dense_0')([embedded, code, features])
    h = nn.relu(h)
    for i, width in enumerate(self.hidden[1:], 1):
      h = nn.relu(nn.Dense(width, kernel_init=init, dot_general=dot_general, name=f'dense_{i}')(h))
    out = nn.Dense(2, kernel_init=init, dot_general=dot_general,
                   name=f'dense_{len(self.hidden)}')(h)
    return jnp.clip(out, -self.max_offset, self.max_offset)
