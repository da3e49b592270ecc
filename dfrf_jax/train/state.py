"""The training state (params, optimiser moments, step, PRNG key) and how a run's first state is made."""

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections

from dfrf_jax.model import torch_import
from dfrf_jax.model.dfrf import DFRF, init_params
from dfrf_jax.train import optimizer

Params = dict[str, Any]


@flax.struct.dataclass
class TrainState:
  """Everything the jitted train step reads and writes.

  step: [] int32, the global step the next update takes (= updates done, plus a fine-tune's start step).
  params: the DFRF param tree.
  opt_state: from `optimizer.init_opt_state`.
  key: the run's PRNG key; step s draws its randomness from fold_in(key, s).
  """
  step: jax.Array
  params: Params
  opt_state: optimizer.OptState
  key: jax.Array


def new_state(params: Params, key: jax.Array, step: int = 0) -> TrainState:
  """A state with fresh optimiser moments."""
  return TrainState(step=jnp.asarray(step, jnp.int32), params=params,
                    opt_state=optimizer.init_opt_state(params), key=key)


def fresh_params(model: DFRF, key: jax.Array) -> Params:
  """`init_params` as one compiled program (op-by-op initialisation of DFRF takes seconds)."""
  return jax.jit(init_params, static_argnums=0)(model, key)


def abstract_params(model: DFRF) -> Params:
  """Shapes and dtypes of `model`'s params ([jax.ShapeDtypeStruct] leaves), without computing them."""
  return jax.eval_shape(lambda: init_params(model, jax.random.key(0)))


def from_base(model: DFRF, base_params: Params, base_step: int, init_key: jax.Array,
              train_config: ml_collections.ConfigDict, source: str) -> tuple[Params, int]:
  """The first state of a fine-tune from a base model's params (the authors' `ft_path`).

  As the authors' training path does: the params are loaded, the warp MLP is re-initialised (unless
  `train.reinit_warp` is False), and the optimiser is fresh. The authors' fine-tune keeps counting from
  base.tar's `global_step` (it sets the lr and whether smoothing is on); here the step is
  `train.start_step`, and -1 takes the base's step as they do.

  Args:
    model: the module being trained.
    base_params: the base model's param tree.
    base_step: the base checkpoint's step.
    init_key: PRNG key of the re-initialised warp.
    train_config: the `train` config section.
    source: where the base came from, for messages.

  Returns:
    (params, the global step the fine-tune starts at).

  Raises:
    CheckpointError: the base's params do not fit `model` (another architecture), naming `source`.
  """
  try:
    torch_import.check_params(base_params, abstract_params(model))
  except torch_import.CheckpointError as e:
    raise torch_import.CheckpointError(
        f'init_from {source}: the base model has another architecture than config.model; {e}') from e
  params = jax.tree.map(jnp.asarray, base_params)
  if train_config.reinit_warp:
    params = dict(params, warp=fresh_params(model, init_key)['warp'])
  if train_config.start_step < -1:
    raise ValueError(f'config.train.start_step = {train_config.start_step}, expected -1 (the base '
                     'checkpoint\'s step) or a step >= 0')
  return params, base_step if train_config.start_step == -1 else train_config.start_step
