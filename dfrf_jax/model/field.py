"""The facial radiance field F_theta(p, d, A, F~) -> (colour logits, raw density) (the authors' Face_Feature_NeRF)."""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from dfrf_jax.model.layers import ConcatDense, dense


class RadianceField(nn.Module):
  """An 8-layer MLP with a skip connection, a density head and a view-dependent colour branch.

  The point input is [F~ (256), gamma(p) (63), A (64)] in that order; with `use_viewdirs` the colour branch
  sees [h_7, gamma(d)] and has depth // 4 + 1 layers of width // 2 (the authors' variant "according to the
  paper"). The authors' `feature_linear` layer is dead code in their model and is not built here.
  """
  depth: int = 8
  width: int = 256
  skips: Sequence[int] = (4,)
  use_viewdirs: bool = True
  precision: str = 'float32'  # of the kernel products: 'float32' or 'bf16' (model/layers.py)

  @nn.compact
  def __call__(self, point_inputs: Sequence[jax.Array], view_inputs: jax.Array | None) -> jax.Array:
    """Evaluates the field.

    Args:
      point_inputs: [aggregated feature [P, 256], gamma(p) [P, 63], audio code [64]], the parts of
        the input in order; the layers that read them (the first, and the one after each skip)
        multiply each part by its own kernel rows (`ConcatDense`), so the frame's audio code is
        multiplied once rather than once per sample. (A code gated per sample,
        `dfrf.gated_audio_code`, comes as [P, 64] and is multiplied per sample.)
      view_inputs: [P, 27] gamma(view direction), or None without `use_viewdirs`.

    Returns:
      raw: [P, 4] (rgb logits, raw density sigma).
    """
    parts = list(point_inputs)
    for i in range(self.depth):
      h = nn.relu(ConcatDense(self.width, self.precision, name=f'pts_{i}')(parts))
      parts = list(point_inputs) + [h] if i in self.skips else [h]
    h = parts[0] if len(parts) == 1 else jnp.concatenate(
        [jnp.broadcast_to(x, parts[0].shape[:-1] + x.shape[-1:]) for x in parts], -1)
    if not self.use_viewdirs:
      return dense(h, 4, 'output', self.precision)
    sigma = dense(h, 1, 'alpha', self.precision)
    h = jnp.concatenate([h, view_inputs], -1)
    for i in range(self.depth // 4 + 1):
      h = nn.relu(dense(h, self.width // 2, f'views_{i}', self.precision))
    rgb = dense(h, 3, 'rgb', self.precision)
    return jnp.concatenate([rgb, sigma], -1)
