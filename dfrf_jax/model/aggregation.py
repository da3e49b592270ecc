"""Fusion of the N per-reference features of a sample by slot attention (the authors' `SlotAttention`).

Each reference contributes a token l_n = [bilinear feature (128), truncated warped (row, col) (2)]; a side
MLP and gamma(p) are mixed in, then `num_slots` slots attend to the N tokens for `iters` rounds. The output,
the concatenated slots, is the aggregated feature F~ (2 x 128 = 256 wide in the authors' code).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from dfrf_jax.model.layers import ConcatDense, dense, torch_dense


def gru_update(gates_input: jax.Array, gates_hidden: jax.Array, state: jax.Array) -> jax.Array:
  """PyTorch's GRUCell update from its two affine maps (gate blocks in the order r, z, n).

  Args:
    gates_input: [..., 3F] W_i x + b_i.
    gates_hidden: [..., 3F] W_h h + b_h.
    state: [..., F] h.

  Returns:
    [..., F] the new state.
  """
  i_r, i_z, i_n = jnp.split(gates_input, 3, -1)
  h_r, h_z, h_n = jnp.split(gates_hidden, 3, -1)
  r = jax.nn.sigmoid(i_r + h_r)
  z = jax.nn.sigmoid(i_z + h_z)
  n = jnp.tanh(i_n + r * h_n)
  return (1.0 - z) * n + z * state


def _layer_norm(name: str) -> nn.LayerNorm:
  # PyTorch's epsilon and two-pass variance.
  return nn.LayerNorm(epsilon=1e-5, use_fast_variance=False, name=name)


class SlotAttention(nn.Module):
  """Slot attention over the references of each sample."""
  num_slots: int = 2
  dim: int = 128
  iters: int = 2
  side_dim: int = 32
  eps: float = 1e-8
  precision: str = 'float32'  # of the Dense kernel products (model/layers.py)

  @nn.compact
  def __call__(self, tokens: jax.Array, embedded_points: jax.Array,
               slot_noise: jax.Array | None) -> jax.Array:
    """Fuses the reference tokens of P samples.

    Args:
      tokens: [P, N, T] per-reference tokens (T = feature_dim + 2).
      embedded_points: [P, 63] gamma(p) of each sample.
      slot_noise: [P, num_slots, dim] standard normal draws for the slot initialisation
        (slots = mu + exp(log_sigma) * noise), or None for slots = mu.

    Returns:
      [P, num_slots * dim].
    """
    num_points = tokens.shape[0]
    mu = self.param('slots_mu', nn.initializers.normal(1.0), (self.dim,))
    log_sigma = self.param('slots_logsigma', nn.initializers.zeros, (self.dim,))

    side = dense(nn.relu(dense(tokens, self.side_dim, 'fc1', self.precision)), self.side_dim,
                 'fc6', self.precision)
    # fc7 reads [token, gamma(p), side]; gamma(p) is the same for every reference, so its product is
    # computed once per sample (`ConcatDense`), not once per reference.
    x = nn.leaky_relu(ConcatDense(self.dim, self.precision, name='fc7')(
        [tokens, embedded_points[:, None, :], side]), 0.01)
    x = _layer_norm('norm_input')(x)
    k = dense(x, self.dim, 'to_k', self.precision)
    v = dense(x, self.dim, 'to_v', self.precision)

    slots = jnp.broadcast_to(mu, (num_points, self.num_slots, self.dim))
    if slot_noise is not None:
      slots = slots + jnp.exp(log_sigma) * slot_noise

    norm_slots = _layer_norm('norm_slots')
    to_q = torch_dense(self.dim, self.dim, 'to_q', self.precision)
    gru_input = torch_dense(3 * self.dim, self.dim, 'gru_input', self.precision)
    gru_hidden = torch_dense(3 * self.dim, self.dim, 'gru_hidden', self.precision)
    norm_pre_ff = _layer_norm('norm_pre_ff')
    mlp_0 = torch_dense(self.dim, self.dim, 'mlp_0', self.precision)
    mlp_1 = torch_dense(self.dim, self.dim, 'mlp_1', self.precision)
    scale = self.dim ** -0.5
    for _ in range(self.iters):
      q = to_q(norm_slots(slots))
      logits = jnp.einsum('psd,pnd->psn', q, k) * scale
      attn = jax.nn.softmax(logits, axis=1) + self.eps  # competition between slots
      attn = attn / jnp.sum(attn, -1, keepdims=True)     # weighted mean over references
      updates = jnp.einsum('pnd,psn->psd', v, attn)
      slots = gru_update(gru_input(updates), gru_hidden(slots), slots)
      slots = slots + mlp_1(nn.relu(mlp_0(norm_pre_ff(slots))))
    return slots.reshape(num_points, self.num_slots * self.dim)
