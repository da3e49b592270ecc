"""Full-reference image metrics of [H, W, 3] images in [0, 1]: PSNR and SSIM (dm-pix), batched."""

import chex
import dm_pix
import jax
import jax.numpy as jnp


def psnr(img: jax.Array, ref: jax.Array) -> jax.Array:
  """Peak signal-to-noise ratio for data range 1.

  Args:
    img: [H, W, 3] float in [0, 1].
    ref: [H, W, 3] float in [0, 1], the ground truth.

  Returns:
    Scalar, in dB: -10 log10(mean squared error).
  """
  chex.assert_rank(img, 3)
  chex.assert_equal_shape((img, ref))
  return dm_pix.psnr(jnp.asarray(img, jnp.float32), jnp.asarray(ref, jnp.float32))


def ssim(img: jax.Array, ref: jax.Array) -> jax.Array:
  """Structural similarity, data range 1, 11x11 gaussian window of sigma 1.5, k1 = 0.01, k2 = 0.03.

  Args:
    img: [H, W, 3] float in [0, 1], H, W >= 11.
    ref: [H, W, 3] float in [0, 1], the ground truth.

  Returns:
    Scalar: the SSIM map averaged over valid window positions and channels.
  """
  chex.assert_rank(img, 3)
  chex.assert_equal_shape((img, ref))
  return dm_pix.ssim(jnp.asarray(img, jnp.float32), jnp.asarray(ref, jnp.float32), max_val=1.0)


def psnr_batch(imgs: jax.Array, refs: jax.Array) -> jax.Array:
  """`psnr` of each pair: [B, H, W, 3] x [B, H, W, 3] -> [B] dB."""
  chex.assert_rank(imgs, 4)
  return jax.vmap(psnr)(imgs, refs)


def ssim_batch(imgs: jax.Array, refs: jax.Array) -> jax.Array:
  """`ssim` of each pair: [B, H, W, 3] x [B, H, W, 3] -> [B]."""
  chex.assert_rank(imgs, 4)
  return jax.vmap(ssim)(imgs, refs)
