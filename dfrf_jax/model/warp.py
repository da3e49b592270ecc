"""The audio-conditioned deformation module D_eta: a pixel offset per sample and reference (paper eq. 4)."""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from dfrf_jax.model.layers import dense_dot_general


class WarpMLP(nn.Module):
  """[gamma(p), audio code, nearest reference feature] -> (d_row, d_col) in pixels, clamped to +-max_offset.

  Weights start N(0, 1e-3) with zero biases (the authors' init), so offsets start near zero.
  """
  hidden: Sequence[int] = (128, 32)
  max_offset: float = 10.0
  precision: str = 'float32'  # of the kernel products (model/layers.py)

  @nn.compact
  def __call__(self, inputs: jax.Array) -> jax.Array:
    """inputs: [..., 63 + dim_aud + feature_dim] -> offsets [..., 2] pixels (row, col)."""
    init = nn.initializers.normal(1e-3)
    dot_general = dense_dot_general(self.precision)
    h = inputs
    for i, width in enumerate(self.hidden):
      h = nn.relu(nn.Dense(width, kernel_init=init, dot_general=dot_general, name=f'dense_{i}')(h))
    out = nn.Dense(2, kernel_init=init, dot_general=dot_general,
                   name=f'dense_{len(self.hidden)}')(h)
    return jnp.clip(out, -self.max_offset, self.max_offset)
