"""The jitted training step: loss, gradients and optimiser update in one compiled program.

Whether the audio smoothing and the warp are on are static flags (one compiled variant each), not traced
branches. With a mesh of several devices the rays of a batch are split over the 'data' axis and the
params replicated; XLA inserts the gradient all-reduce.

The rays are marched by `renderer.march` with the run's marching state (`march_state.for_training`):
None marches every sample (the authors' path); a state marches the samples in its occupancy mask,
compacted into its static sample budget (one compiled variant per budget, which the host refits
between steps from the returned `MarchStats`, `march_state.refit`).
"""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from dfrf_jax.model.dfrf import DFRF, audio_code
from dfrf_jax.render import cameras
from dfrf_jax.render.march_state import MarchState
from dfrf_jax.render.rays import DensityNoise, Field, MarchMode, Rays, RevivalRule, frame_inputs
from dfrf_jax.render.renderer import march
from dfrf_jax.train import batches, losses, optimizer
from dfrf_jax.train.batches import Batch
from dfrf_jax.train.state import Params, TrainState

# Metric name -> value: replicated scalars, and with a marching state also 'march' (MarchStats).
Metrics = dict[str, Any]
# (state, batch, smoothing, use_warp[, march state]) -> (state, metrics); see `make_train_step`.
StepFn = Callable[..., tuple[TrainState, Metrics]]


def loss_fn(params: Params, model: DFRF, config: ml_collections.ConfigDict, batch: Batch,
            key: jax.Array, near: float, far: float, smoothing: bool, use_warp: bool,
            state: MarchState | None = None,
            density_noise: DensityNoise | None = None,
            revival: RevivalRule | None = None) -> tuple[jax.Array, Metrics]:
  """mse(fine) + mse(coarse) + L2loss_weight * offset regulariser, and its parts.

  The rays are marched by `renderer.march` with the marching state `state` (None: every sample);
  with a state the metrics also hold its MarchStats under 'march'. `density_noise`
  (`density_noise_rule`) sets the density noise of each pass instead of render.raw_noise_std;
  `revival` (`gradient_revival_rule`) says which passes then revive their density.
  With train.audio_from_face_only only the face rectangle's rays train the audio code
  (`trains_audio`).
  """
  code = audio_code(model, params, batch.aud, smoothing)
  focal, cx, cy = batch.intrinsics[0], batch.intrinsics[1], batch.intrinsics[2]
  field = Field(model=model, params=params, use_warp=use_warp,
                frame=frame_inputs(model, params, code, batch.ref_images, batch.ref_poses, focal))
  rays_o, rays_d = cameras.pixel_rays(batch.pixels, batch.c2w, focal, cx, cy)
  rays = Rays(origins=rays_o, directions=rays_d, background=batch.bg, near=near, far=far,
              trains_audio=trains_audio(config, rays_o.shape[0]))
  out, stats = march(field, rays, key, MarchMode(config.render, True, density_noise, revival), state)
  extra = {} if stats is None else {'march': stats}
  if density_noise is not None:  # 1 where a pass got the revival noise (`density_noise_rule`)
    below = config.train.density_revive_below
    extra.update(revive=losses.dying(out.sigma_fine, below),
                 revive0=losses.dying(out.sigma_coarse, below))
  if revival is not None:  # 1 where a pass's density passed the identity's gradient
    extra.update(revive_grad=out.fine.revived, revive_grad0=out.coarse.revived)
  mse_fine = losses.mse(out.fine.rgb, batch.target)
  mse_coarse = losses.mse(out.coarse.rgb, batch.target)
  reg = losses.offset_regularizer(out.offsets_fine, out.fine.weights, out.z_fine, out.sigma_fine,
                                  config.train.offset_reg)
  loss = mse_fine + mse_coarse + config.train.L2loss_weight * reg
  return loss, {'loss': loss, 'mse': mse_fine, 'mse0': mse_coarse, 'offset_reg': reg,
                'psnr': losses.psnr(mse_fine), 'psnr0': losses.psnr(mse_coarse),
                'psnr_bg': losses.psnr(losses.mse(batch.bg, batch.target)),
                'live': losses.live_share(out.sigma_fine),
                'live0': losses.live_share(out.sigma_coarse), **extra}


def trains_audio(config: ml_collections.ConfigDict, num_rays: int) -> jax.Array | None:
  """`Rays.trains_audio` of a batch of `num_rays` rays: with train.audio_from_face_only, the face
  rectangle's rays (the batch's first `batches.face_rays_per_step`); otherwise None (every ray)."""
  num_face = batches.face_rays_per_step(config)
  if not config.train.audio_from_face_only or num_face == 0:
    return None
  return jnp.arange(num_rays) < num_face


def density_noise_rule(config: ml_collections.ConfigDict) -> DensityNoise | None:
  """How much noise a training pass adds to its raw densities, to revive a dying field.

  A field whose raw density is negative on every sample gets no gradient through its density and
  may stay dead (docs/training.md, "Dead fields"). A pass in which fewer than
  train.density_revive_below of the samples have positive raw density (default 1e-4: none, at
  batches of up to 10k samples) gets N(0, train.density_revive_noise^2) noise on every raw density,
  so that about half of its samples contribute and pass gradients again (where even that leaves no
  sample positive, `gradient_revival_rule` takes over); any other pass gets render.raw_noise_std
  (the authors' 0). A pass with even a few positive samples gets gradients without help; the early
  dips of healthy fields mostly keep some, and train unchanged.

  Returns:
    The rule ([R, S] raw densities of one pass -> [] noise std), or None when revival is off.
  """
  t, r = config.train, config.render
  if t.density_revive_below <= 0 or t.density_revive_noise <= 0:
    return None

  def rule(raw_sigma: jax.Array) -> jax.Array:
    dying = losses.dying(raw_sigma, t.density_revive_below)
    return jnp.where(dying, jnp.float32(t.density_revive_noise), jnp.float32(r.raw_noise_std))

  return rule


def gradient_revival_rule(config: ml_collections.ConfigDict) -> RevivalRule | None:
  """Which training passes pass their density the identity's gradient: those the noise cannot reach.

  The noise of `density_noise_rule` has a fixed scale (train.density_revive_noise). A field whose
  raw densities have been driven several times that far below 0 (within a few steps, at a high
  learning rate) gets noise on every pass and still no positive sample, and stays dead. A pass in
  which, after its noise, fewer than train.density_revive_below of the samples are positive
  therefore keeps its values but passes every sample the gradient the loss has for its density at
  0 (`compositing.density`): where more density would bring the ray's colour closer to the target,
  sigma rises, however far below 0 it is. Where the noise makes samples positive, nothing changes.

  Returns:
    The rule ([R, S] noisy raw densities of one pass -> [] bool), or None when revival is off.
  """
  t = config.train
  if t.density_revive_below <= 0:
    return None

  def rule(noisy_sigma: jax.Array) -> jax.Array:
    return losses.dying(noisy_sigma, t.density_revive_below)

  return rule


def make_train_step(model: DFRF, config: ml_collections.ConfigDict, near: float, far: float,
                    mesh: jax.sharding.Mesh) -> StepFn:
  """The compiled step `(state, batch, smoothing, use_warp[, march]) -> (state, metrics)`.

  `march` is the run's marching state (`march_state.for_training`, replicated) or None (every
  sample); each budget of a state compiles its own variant.

  Args:
    model: the DFRF module.
    config: the full run config (render, train sections are read).
    near, far: depth bounds of the rays, world units.
    mesh: devices with one axis 'data'; `batch` must be placed with `batches.shard`.

  Returns:
    The step. It consumes (donates) `state`. Metrics are replicated scalars: loss, mse, mse0, psnr,
    psnr0 (fine and coarse field), psnr_bg (the batch's background plate alone: where a field that
    renders nothing stays), live, live0 (`losses.live_share` of the fine and coarse samples), with
    revival on also revive, revive0 (1 where that pass got the revival noise) and revive_grad,
    revive_grad0 (1 where it then passed the identity's gradient), offset_reg, lr,
    grad_norm and `finite` (loss and every gradient finite). A marching state adds
    samples_per_ray (samples of both passes per ray at which a field ran), aggregations_per_ray
    (of those, the samples whose F~ was aggregated rather than interpolated), overflow (occupied samples dropped
    for lack of budget), occupied (share of the mask's cells that are evaluated), with
    `accel.train_selection` grad_samples_per_ray (samples differentiated per ray), and 'march', the
    MarchStats.
  """
  replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())

  def step(state: TrainState, batch: Batch, smoothing: bool, use_warp: bool,
           march_state: MarchState | None = None) -> tuple[TrainState, Metrics]:
    key = jax.random.fold_in(state.key, state.step)
    grads, metrics = jax.grad(loss_fn, has_aux=True)(
        state.params, model, config, batch, key, near, far, smoothing, use_warp, march_state,
        density_noise_rule(config), gradient_revival_rule(config))
    params, opt_state = optimizer.apply_gradients(state.params, grads, state.opt_state, state.step,
                                                  config.train, smoothing)
    grad_leaves = jax.tree.leaves(grads)
    finite = jnp.isfinite(metrics['loss']) & jnp.all(
        jnp.stack([jnp.all(jnp.isfinite(g)) for g in grad_leaves]))
    metrics = dict(metrics, finite=finite, lr=optimizer.learning_rate(config.train, state.step),
                   grad_norm=jnp.sqrt(sum(jnp.sum(g ** 2) for g in grad_leaves)))
    if march_state is not None:
      stats = metrics['march']
      metrics.update(
          samples_per_ray=stats.evaluated() / batch.pixels.shape[0],
          aggregations_per_ray=stats.aggregated() / batch.pixels.shape[0],
          overflow=stats.overflow, occupied=jnp.mean(march_state.mask.occupied))
      if stats.kept_evaluated is not None:
        metrics['grad_samples_per_ray'] = stats.kept_evaluated / batch.pixels.shape[0]
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics

  return jax.jit(step, static_argnames=('smoothing', 'use_warp'), donate_argnums=0,
                 out_shardings=replicated)
