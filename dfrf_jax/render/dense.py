"""The dense marcher (the authors' path): every coarse sample, then every coarse + importance sample.

The coarse field is evaluated at `N_samples` depths per ray; its compositing weights place
`N_importance` more (`sampling.fine_z`), and the fine field is evaluated on the union.
"""

import jax
import jax.numpy as jnp

from dfrf_jax.render.compositing import composite
from dfrf_jax.render.rays import Field, MarchMode, RayKeys, Rays, RenderOutput
from dfrf_jax.render.sampling import coarse_z, fine_z


def _query_pass(field: Field, rays: Rays, z: jax.Array, slot_key: jax.Array | None, fine: bool
                ) -> tuple[jax.Array, jax.Array]:
  """One field at every sample: raw [R, S, 4] and offsets [N, R, S, 2]."""
  num_rays, num_samples = z.shape
  points = rays.points(z).reshape(-1, 3)
  viewdirs = jnp.broadcast_to(rays.viewdirs()[:, None, :], (num_rays, num_samples, 3))
  out = field.query(points, viewdirs.reshape(-1, 3), (fine,), slot_key,
                    rays.sample_trains_audio(num_samples))
  return (out.raw.reshape(num_rays, num_samples, 4),
          out.offsets.reshape(field.num_refs, num_rays, num_samples, 2))


def march_dense(field: Field, rays: Rays, keys: RayKeys, mode: MarchMode) -> RenderOutput:
  """Renders R rays with the coarse field, then the fine field on the union of both sample sets."""
  r = mode.render_config
  z = coarse_z(rays.near, rays.far, r.N_samples, lindisp=r.lindisp,
               key=keys.strata if mode.randomise else None)
  z = jnp.broadcast_to(z, (rays.num, r.N_samples))
  raw_coarse, _ = _query_pass(field, rays, z, keys.slots_coarse, fine=False)
  coarse = composite(raw_coarse, z, rays.directions, rays.background, white_bkgd=r.white_bkgd,
                     raw_noise_std=mode.noise_std(raw_coarse), key=keys.noise_coarse,
                     revival=mode.revival_rule)

  depths = fine_z(z, coarse.weights, r.N_importance, key=keys.pdf if mode.randomise else None)
  raw, offsets = _query_pass(field, rays, depths.z, keys.slots_fine, fine=True)
  fine = composite(raw, depths.z, rays.directions, rays.background, white_bkgd=r.white_bkgd,
                   raw_noise_std=mode.noise_std(raw), key=keys.noise_fine,
                   revival=mode.revival_rule)
  return RenderOutput(coarse=coarse, fine=fine, z_fine=depths.z, offsets_fine=offsets,
                      sigma_coarse=raw_coarse[..., 3], sigma_fine=raw[..., 3],
                      z_std=jnp.std(depths.samples, -1))
