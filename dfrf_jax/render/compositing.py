"""Volume compositing of per-sample network outputs into per-ray colour, depth and opacity.

This is the authors' `raw2outputs`: the last sample of every ray sits at the far bound with an
effectively infinite interval and takes the ray's background (torso-plate) colour instead of the
network's, so a ray that passes through empty space renders the background pixel.

Its building blocks (`intervals`, `noisy_density`, `density`, `opacity`, `survival`, `transmittance`,
`transmittance_after`) are also what the accelerated marcher uses to decide when a ray is opaque
enough to stop, and which samples a training step differentiates.
"""

from collections.abc import Callable

import chex
from flax import struct
import jax
import jax.numpy as jnp


@struct.dataclass
class Composite:
  """What compositing one pass returns (R rays, S samples).

  Attributes:
    rgb: [R, 3] composited colour in [0, 1] (plus 1 - acc with a white background).
    disp: [R] disparity, 1 / max(1e-10, depth / acc).
    acc: [R] accumulated opacity, the sum of the weights.
    weights: [R, S] compositing weight of each sample.
    depth: [R] expected depth, the weighted sum of sample depths.
    depth_grid: [R, S] weights * depths (the authors' `depth_grid`, used by the warp regulariser).
    last_weight: [R] weight of the last (background) sample.
    revived: [] bool, whether the density passed the identity's gradient (`composite`'s revival).
  """
  rgb: jax.Array
  disp: jax.Array
  acc: jax.Array
  weights: jax.Array
  depth: jax.Array
  depth_grid: jax.Array
  last_weight: jax.Array
  revived: jax.Array


def density(sigma: jax.Array, revive: bool | jax.Array = False) -> jax.Array:
  """relu(sigma): the density of raw density logits sigma [R, S], >= 0.

  With `revive` (a bool or a traced [] bool) the values are the same, but the gradient is that of
  the identity: a sample with negative sigma passes d loss / d density, taken at density 0, back to
  sigma. That is what a field whose every sample has negative sigma lacks (relu passes it nothing);
  training sets `revive` for such a pass only (train/step.py `gradient_revival_rule`).
  """
  dead_gradient = jax.nn.relu(sigma)
  if isinstance(revive, bool) and not revive:
    return dead_gradient
  # sigma + (relu(sigma) - sigma) is relu(sigma) exactly in floating point (x + (0 - x) = 0 and
  # x + (x - x) = x), with the gradient of sigma.
  passing = sigma + jax.lax.stop_gradient(dead_gradient - sigma)
  return jnp.where(revive, passing, dead_gradient)


def opacity(sigma: jax.Array, deltas: jax.Array, revive: bool | jax.Array = False) -> jax.Array:
  """alpha = 1 - exp(-(relu(sigma) + 1e-6) * delta) of each sample: sigma, deltas [R, S] -> [R, S].

  sigma is the raw density logit; deltas are the sample intervals in world units (the authors' 1e-6
  keeps alpha above zero in empty space). `revive`: see `density`.
  """
  return 1.0 - jnp.exp(-(density(sigma, revive) + 1e-6) * deltas)


def survival(alpha: jax.Array) -> jax.Array:
  """The share of light a sample lets through, 1 - alpha, kept off zero by the authors' 1e-10."""
  return 1.0 - alpha + 1e-10


def intervals(z: jax.Array, rays_d: jax.Array) -> jax.Array:
  """[R, S] world-unit length of each sample's interval; the last one (the background) is 1e10."""
  deltas = jnp.concatenate([z[:, 1:] - z[:, :-1], jnp.full_like(z[:, :1], 1e10)], -1)
  return deltas * jnp.linalg.norm(rays_d, axis=-1, keepdims=True)


def transmittance(alpha: jax.Array) -> jax.Array:
  """[R, S] transmittance before each sample: the exclusive product of `survival` along the ray."""
  return jnp.cumprod(jnp.concatenate([jnp.ones_like(alpha[:, :1]), survival(alpha[:, :-1])], -1),
                     -1)


def noisy_density(sigma: jax.Array, raw_noise_std: float | jax.Array,
                  key: jax.Array | None) -> jax.Array:
  """sigma [R, S] plus N(0, raw_noise_std^2) training noise drawn from `key` (none for a Python 0)."""
  if isinstance(raw_noise_std, (int, float)) and raw_noise_std <= 0.0:
    return sigma
  if key is None:
    raise ValueError('composite: density noise (raw_noise_std) needs a PRNG key, got key=None.')
  return sigma + raw_noise_std * jax.random.normal(key, sigma.shape, sigma.dtype)


def transmittance_after(sigma: jax.Array, z: jax.Array, rays_d: jax.Array) -> jax.Array:
  """Transmittance after the first n samples of each ray, as `composite` accumulates it.

  Args:
    sigma: [R, n] raw densities of the first n samples.
    z: [R, n + 1] their depths and the next sample's (which closes the last interval).
    rays_d: [R, 3] unnormalised ray directions (intervals are scaled by their length).

  Returns:
    [R] product of `survival` over the n samples.
  """
  deltas = (z[:, 1:] - z[:, :-1]) * jnp.linalg.norm(rays_d, axis=-1, keepdims=True)
  return jnp.prod(survival(opacity(sigma, deltas)), -1)


def composite(raw: jax.Array, z: jax.Array, rays_d: jax.Array, bg_rgb: jax.Array, *,
              white_bkgd: bool, raw_noise_std: float | jax.Array = 0.0,
              key: jax.Array | None = None,
              revival: Callable[[jax.Array], jax.Array] | None = None) -> Composite:
  """Composites raw network outputs along each ray.

  Args:
    raw: [R, S, 4] network output per sample: 3 colour logits, then the density logit.
    z: [R, S] sorted sample depths (world units per unit of ray direction).
    rays_d: [R, 3] ray directions, not normalised; intervals are scaled by their length.
    bg_rgb: [R, 3] background colour in [0, 1], used as the last sample's colour.
    white_bkgd: add (1 - acc) to the colour, as the authors' `white_bkgd` (on by default there).
    raw_noise_std: standard deviation of Gaussian noise added to the density logit (training only);
      a traced scalar is allowed (the noise is then always drawn and scaled by it).
    key: PRNG key for that noise; required unless raw_noise_std is a Python 0.
    revival: a rule ([R, S] noisy density logits -> [] bool) saying whether the pass's density
      passes the identity's gradient (`density`); None: relu's.

  Returns:
    A `Composite`.
  """
  num_rays, num_samples = z.shape
  chex.assert_shape(raw, (num_rays, num_samples, 4))
  chex.assert_shape([rays_d, bg_rgb], (num_rays, 3))
  rgb = jnp.concatenate([jax.nn.sigmoid(raw[:, :-1, :3]), bg_rgb[:, None, :]], 1)
  sigma = noisy_density(raw[..., 3], raw_noise_std, key)
  revive = False if revival is None else revival(sigma)
  alpha = opacity(sigma, intervals(z, rays_d), revive)
  weights = alpha * transmittance(alpha)
  rgb_map = jnp.sum(weights[..., None] * rgb, 1)
  depth = jnp.sum(weights * z, -1)
  acc = jnp.sum(weights, -1)
  disp = 1.0 / jnp.maximum(1e-10, depth / acc)
  if white_bkgd:
    rgb_map = rgb_map + (1.0 - acc[:, None])
  return Composite(rgb=rgb_map, disp=disp, acc=acc, weights=weights, depth=depth,
                   depth_grid=weights * z, last_weight=weights[:, -1],
                   revived=jnp.asarray(revive))
