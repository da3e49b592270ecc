"""Audio networks: AudioNet (one feature window -> audio code) and AudioAttNet (temporal smoothing)."""

import flax.linen as nn
import jax
import jax.numpy as jnp

from dfrf_jax.model.layers import conv, dense


class AudioNet(nn.Module):
  """Encodes audio feature windows into audio codes (paper: A).

  Four stride-2 1-D convolutions over the window's time axis, then a 2-layer MLP; LeakyReLU(0.02).
  Generalised to any feature width D (DeepSpeech: 29); the window length must be 16.
  """
  dim_aud: int = 64

  @nn.compact
  def __call__(self, windows: jax.Array) -> jax.Array:
    """windows: [n, 16, D] feature rows over time -> [n, dim_aud]."""
    if windows.ndim != 3 or windows.shape[1] != 16:
      raise ValueError(f'AudioNet expects windows [n, 16, D], got {windows.shape}')
    h = windows
    for i, width in enumerate((32, 32, 64, 64)):
      h = nn.leaky_relu(conv(h, width, (3,), (2,), name=f'conv_{i}'), 0.02)
    h = h[:, 0, :]  # time length is now 1
    h = nn.leaky_relu(dense(h, 64, 'dense_0'), 0.02)
    return dense(h, self.dim_aud, 'dense_1')


class AudioAttNet(nn.Module):
  """Smooths audio codes over neighbouring frames with learned attention weights.

  The authors compute the weights from the first `channels` (32) of the 64 code channels only.
  """
  seq_len: int = 8
  channels: int = 32

  @nn.compact
  def __call__(self, codes: jax.Array) -> tuple[jax.Array, jax.Array]:
    """codes: [seq_len, dim_aud] codes of frames i-4 ... i+3.

    Returns:
      smoothed: [dim_aud] the attention-weighted sum of the codes.
      weights: [seq_len] the attention weights (a softmax over time).
    """
    if codes.shape[0] != self.seq_len:
      raise ValueError(f'AudioAttNet expects {self.seq_len} codes, got {codes.shape}')
    h = codes[None, :, :self.channels]  # [1, seq_len, channels] (NWC)
    for i, width in enumerate((16, 8, 4, 2, 1)):
      h = nn.leaky_relu(conv(h, width, (3,), (1,), name=f'conv_{i}'), 0.02)
    logits = dense(h.reshape(1, self.seq_len), self.seq_len, 'dense')[0]
    weights = jax.nn.softmax(logits)
    return jnp.sum(weights[:, None] * codes, 0), weights
