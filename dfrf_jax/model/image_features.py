"""Per-reference image features: a 2-layer convolution network at full resolution (paper: F_n, D=128)."""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp

from dfrf_jax.model.encoding import positional_encoding
from dfrf_jax.model.layers import conv, dense


def feature_net_inputs(images: jax.Array, poses: jax.Array, num_freqs: int) -> jax.Array:
  """The authors' CNN input: [gamma(RGB) ; gamma(camera centre)] at every pixel.

  Args:
    images: [N, H, W, 3] reference colours in [0, 1].
    poses: [N, 3, 4] reference camera-to-world matrices (world units).
    num_freqs: PE octaves (5).

  Returns:
    [N, H, W, 2 * 3 * (1 + 2 * num_freqs)] (66 channels for 5 octaves).
  """
  chex.assert_rank(images, 4)
  chex.assert_shape(poses, (images.shape[0], 3, 4))
  rgb = positional_encoding(images, num_freqs)
  centre = positional_encoding(poses[:, :, 3], num_freqs)[:, None, None, :]
  return jnp.concatenate([rgb, jnp.broadcast_to(centre, rgb.shape)], -1)


class FeatureNet(nn.Module):
  """Conv3x3 -> ReLU -> Conv3x3 -> ReLU -> per-pixel Dense, no downsampling."""
  hidden: int = 64
  features: int = 128
  precision: str = 'float32'  # of the kernel products (model/layers.py)

  @nn.compact
  def __call__(self, inputs: jax.Array) -> jax.Array:
    """inputs: [N, H, W, C] -> [N, H, W, features]."""
    h = nn.relu(conv(inputs, self.hidden, (3, 3), (1, 1), name='conv_0',
                    precision=self.precision))
    h = nn.relu(conv(h, self.hidden, (3, 3), (1, 1), name='conv_1', precision=self.precision))
    return dense(h, self.features, 'dense', self.precision)
