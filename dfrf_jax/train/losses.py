"""Training losses: photometric MSE of both passes and the warp-offset regulariser (paper eq. 5-6)."""

import jax
import jax.numpy as jnp


def mse(rgb: jax.Array, target: jax.Array) -> jax.Array:
  """Mean squared error over rays and channels: [R, 3], [R, 3] -> []."""
  return jnp.mean((rgb - target) ** 2)


def psnr(mse_value: jax.Array) -> jax.Array:
  """-10 log10(mse), in dB, for images in [0, 1]."""
  return -10.0 * jnp.log10(mse_value)


def live_share(raw_sigma: jax.Array) -> jax.Array:
  """Share of a pass's samples whose raw density is positive: [R, S] -> [] in [0, 1].

  The last sample of every ray (the background, composited at the far bound) is left out. A field
  whose share is 0 gets no gradient through its density (relu) and renders the background only.
  """
  return jnp.mean((raw_sigma[:, :-1] > 0).astype(jnp.float32))


def dying(raw_sigma: jax.Array, below: float) -> jax.Array:
  """[] bool: fewer than `below` of a pass's samples ([R, S] raw densities) are positive, the test
  both revival stages (train/step.py) and their metrics apply. No gradient flows through it."""
  return live_share(jax.lax.stop_gradient(raw_sigma)) < below


def offset_regularizer(offsets: jax.Array, weights: jax.Array, z: jax.Array, raw_sigma: jax.Array,
                       mode: str) -> jax.Array:
  """The density-weighted penalty on warp offsets of the fine samples.

  'code' (default, the authors' implementation): mean over samples of
    mean_{refs, axes}(offset^2) * (1 - min(weight * z, 1)), the weight term gradient-stopped.
  'paper' (eq. 5-6): mean over samples of mean_refs(|offset|_2) * (1 - min(relu(sigma), 1)), with the
    density gradient-stopped.

  Args:
    offsets: [N, R, S, 2] pixel offsets (row, col).
    weights: [R, S] volume-rendering weights of the fine pass.
    z: [R, S] fine sample depths.
    raw_sigma: [R, S] raw density of the fine pass.
    mode: 'code' or 'paper'.

  Returns:
    [] the regulariser (multiplied by config.train.L2loss_weight in the loss).
  """
  if mode == 'code':
    per_sample = jnp.mean(offsets ** 2, axis=(0, 3))
    keep = 1.0 - jnp.minimum(jax.lax.stop_gradient(weights * z), 1.0)
  elif mode == 'paper':
    per_sample = jnp.mean(jnp.sqrt(jnp.sum(offsets ** 2, -1) + 1e-12), axis=0)
    keep = 1.0 - jnp.minimum(jax.lax.stop_gradient(jax.nn.relu(raw_sigma)), 1.0)
  else:
    raise ValueError(f"config.train.offset_reg must be 'code' or 'paper', got {mode!r}")
  return jnp.mean(per_sample * keep)
