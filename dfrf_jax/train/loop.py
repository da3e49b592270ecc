"""The training loop: builds the first state (fresh, resumed or from a base), steps, reports, saves.

Re-running the same command with the same workdir resumes from its latest checkpoint and produces the
same params as an uninterrupted run: step s draws its PRNG key as fold_in(key, s), and the host data
stream continues from the numpy bit_generator state saved with the checkpoint.

The loop also keeps the run's marching state (render/march_state.py; None with
`train.sampler='dense'`): restored or created before the first step, its grid updated after update
steps, its budget refitted from each step's MarchStats one step late, and saved with every checkpoint.
"""

import os
from typing import Any

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from dfrf_jax import config as config_lib
from dfrf_jax.data.dataset import CONFIG_FILE, Identity, load_dataset_from_config
from dfrf_jax.data.errors import DatasetError
from dfrf_jax.errors import UserError
from dfrf_jax.model.dfrf import DFRF, build_model
from dfrf_jax.render import march_state
from dfrf_jax.train import batches, checkpoints, dead_fields, optimizer, progress
from dfrf_jax.train import state as state_lib, validation
from dfrf_jax.train.step import make_train_step

DATA_AXIS = 'data'


class NonFiniteError(UserError, FloatingPointError):
  """The loss or a gradient became NaN or infinite."""


def make_mesh(num_devices: int | None = None) -> jax.sharding.Mesh:
  """A one-axis ('data') mesh over the first `num_devices` devices (default: all of them)."""
  devices = jax.devices()
  if num_devices is not None:
    if not 0 < num_devices <= len(devices):
      raise ValueError(f'num_devices = {num_devices}, expected 1..{len(devices)}')
    devices = devices[:num_devices]
  return jax.sharding.Mesh(np.array(devices), (DATA_AXIS,))


def near_far(identities: list[Identity], config: ml_collections.ConfigDict) -> tuple[float, float]:
  """Depth bounds: the widest of the identities' config.txt near/far.

  An identity without them takes config.render.near/far only when config.data.allow_missing_near_far
  is set (runs saved before that field existed read it as False).

  Raises:
    DatasetError: an identity's config.txt is missing or sets neither near nor far, and
      config.data.allow_missing_near_far is not set.
  """
  allow_missing = config.data.get('allow_missing_near_far', False)
  bounds = []
  for identity in identities:
    if identity.near is not None:
      bounds.append((identity.near, identity.far))
    elif allow_missing:
      bounds.append((float(config.render.near), float(config.render.far)))
    else:
      raise DatasetError(
          f'{os.path.join(identity.root, CONFIG_FILE)}: missing, or sets no near/far; expected '
          'lines "near = <depth>" and "far = <depth>" (dfrf-preprocess and dfrf-make-synthetic '
          'write them), or pass --config.data.allow_missing_near_far=true to use '
          f'config.render.near/far ({config.render.near}/{config.render.far})')
  return min(n for n, _ in bounds), max(f for _, f in bounds)


def replicate(tree: Any, mesh: jax.sharding.Mesh) -> Any:
  """`tree` placed whole on every device of `mesh` (how params and train states live)."""
  return jax.device_put(tree, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))


def _abstract_state(model: DFRF, mesh: jax.sharding.Mesh) -> tuple[Any, Any]:
  """Replicated ShapeDtypeStructs of the params and optimiser moments, the restore targets."""
  sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  params = state_lib.abstract_params(model)
  opt_state = jax.eval_shape(optimizer.init_opt_state, params)
  place = lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding)
  return jax.tree.map(place, params), jax.tree.map(place, opt_state)


def initial_state(model: DFRF, config: ml_collections.ConfigDict, mgr: Any,
                  mesh: jax.sharding.Mesh) -> tuple[state_lib.TrainState, np.random.Generator]:
  """The state a run starts from and its host data stream: resumed, from `init_from`, or fresh."""
  init_key, run_key = jax.random.split(jax.random.key(config.seed))
  latest = mgr.latest_step()
  if latest is not None:
    abstract_params, abstract_opt = _abstract_state(model, mesh)
    restored = checkpoints.restore(mgr, latest, abstract_params, abstract_opt)
    meta = restored['meta']
    key = jax.random.wrap_key_data(np.asarray(meta['key'], np.uint32))
    logging.info('Resuming from %s at step %d.', mgr.directory, latest)
    state = state_lib.TrainState(step=jnp.asarray(meta['step'], jnp.int32),
                                 params=restored['params'], opt_state=restored['opt_state'],
                                 key=key)
    return replicate(state, mesh), batches.rng_from_state(meta['data_state'])
  if config.init_from:
    base_config, base_params, base_step = checkpoints.load_checkpoint(config.init_from)
    del base_config  # The architecture is checked against the params themselves.
    params, step = state_lib.from_base(model, base_params, base_step, init_key, config.train,
                                       config.init_from)
    logging.info('Fine-tuning from %s (step %d), starting at step %d.', config.init_from, base_step,
                 step)
  else:
    params, step = state_lib.fresh_params(model, init_key), 0
  state = state_lib.new_state(params, run_key, step)
  return replicate(state, mesh), np.random.default_rng(config.seed)


def _check_finite(step: int, metrics: dict[str, Any], mgr: Any) -> dict[str, float]:
  """Host values of `metrics` of step `step`; raises NonFiniteError if the step was not finite."""
  values = {k: float(v) for k, v in jax.device_get(metrics).items()}
  if not values.pop('finite'):
    last = mgr.latest_step()
    where = (f'the last good checkpoint is {os.path.join(mgr.directory, str(last))}'
             if last is not None else 'no checkpoint was saved yet')
    raise NonFiniteError(f'step {step}: the loss or a gradient is NaN or infinite '
                         f'(loss = {values["loss"]}, grad_norm = {values["grad_norm"]}); {where}')
  return values


def train(config: ml_collections.ConfigDict, workdir: str,
          mesh: jax.sharding.Mesh | None = None) -> state_lib.TrainState:
  """Trains until step `config.train.N_iters`, checkpointing in `<workdir>/checkpoints`.

  Args:
    config: the run config (see dfrf_jax.config).
    workdir: the run folder; if it holds checkpoints, training resumes from the latest.
    mesh: devices to train on (default: all, one 'data' axis); N_rand must divide by their count.

  Returns:
    The final state.

  Raises:
    ConfigError: a config value out of range (`config.validate`), or N_rand not divisible by the
      device count when there are no extra outside rays to round the step's rays up with.
    DatasetError: the dataset is malformed, or an identity has no near/far (`near_far`).
    NonFiniteError: the loss or a gradient became NaN/inf (names the step and the last checkpoint).
    DeadFieldError: a radiance field rendered only the background for train.dead_field_patience
      steps (`train/dead_fields.py`).
  """
  config_lib.validate(config)
  if not config.data_dir:
    raise config_lib.ConfigError('config.data_dir is empty; pass --config.data_dir=DATASET')
  mesh = mesh or make_mesh()
  t = config.train
  rays = batches.rays_per_step(config, mesh.size)
  if rays % mesh.size:  # no extra outside rays to round up with
    raise config_lib.ConfigError(
        f'config.data.N_rand = {config.data.N_rand} rays per step do not divide by the '
        f'{mesh.size} devices the rays are split over; e.g. --config.data.N_rand='
        f'{rays + -rays % mesh.size}')
  identities = load_dataset_from_config(config)
  near, far = near_far(identities, config)
  model = build_model(config.model, config.precision)
  os.makedirs(workdir, exist_ok=True)
  mgr = checkpoints.manager(os.path.join(workdir, checkpoints.CHECKPOINT_DIR), t.keep_checkpoints)
  state, rng = initial_state(model, config, mgr, mesh)
  step = int(state.step)
  marching = replicate(march_state.for_training(model, state.params, identities, config, near, far,
                                                step, state.key, mgr), mesh)
  step_fn = make_train_step(model, config, near, far, mesh)
  val_frame = validation.load_val_frame(identities[0], config)
  lead = jax.process_index() == 0
  reporter = progress.Reporter(workdir, step, t.N_iters) if lead else None
  monitor = dead_fields.DeadFieldMonitor(t.dead_field_patience, t.dead_field_min_gain_db)

  def save(at: int, data_state: dict[str, Any]) -> None:
    extra, grid = march_state.to_checkpoint(marching)
    meta = {'key': np.asarray(jax.random.key_data(state.key)).tolist(), 'data_state': data_state,
            'source': 'dfrf-train', **extra}
    checkpoints.save(mgr, at, state.params, config, meta, state.opt_state, grid)

  def take(at: int, metrics: dict[str, Any]) -> None:
    """Checks and reports step `at`'s metrics; refits the marching budget from its MarchStats."""
    nonlocal marching
    stats = metrics.pop('march', None)
    values = _check_finite(at, metrics, mgr)
    monitor.update(at, values)
    marching = march_state.refit(marching, stats, config.render)
    if lead and (at + 1) % t.i_print == 0:
      reporter.scalars(at + 1, values)

  stream = batches.prefetch(batches.batches(rng, identities, config, mesh.size), t.prefetch)
  pending = None
  try:
    while step < t.N_iters:
      batch, data_state = next(stream)
      smoothing, use_warp = step >= t.nosmo_iters, step >= t.warp_start_step
      state, metrics = step_fn(state, batches.shard(batch, mesh), smoothing, use_warp, marching)
      if pending is not None:  # Checked one step late, so the device is never idle meanwhile.
        take(*pending)
      pending = (step, metrics)
      step += 1
      if reporter:
        reporter.advance()
      marching = replicate(march_state.after_step(marching, model, state.params, batch, config,
                                                  step, state.key, smoothing=smoothing,
                                                  use_warp=use_warp), mesh)
      if step % t.i_weights == 0 or step == t.N_iters or step % t.i_img == 0:
        take(*pending)
        pending = None
        if step % t.i_weights == 0 or step == t.N_iters:
          save(step, data_state)
        if step % t.i_img == 0:  # Every process renders (params may span hosts); one reports.
          val_key = jax.random.fold_in(jax.random.split(state.key)[1], step)
          image, psnr = validation.render_val(model, state.params, val_frame, config, near, far,
                                              val_key, smoothing, use_warp)
          if lead:
            reporter.image(step, 'rgb', image, {'psnr': psnr})
  finally:
    stream.close()
    if reporter:
      reporter.close()
    mgr.close()
  return state
