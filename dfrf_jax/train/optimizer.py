"""Adam with the authors' learning-rate decay, and AudioAttNet's own optimiser at 5x the rate.

The authors keep three Adam optimisers (main, AudioNet, AudioAttNet) with one shared schedule. Main and
AudioNet always step, so they are one `scale_by_adam` here; AudioAttNet only steps once the audio
smoothing is on (global step >= nosmo_iters), so its Adam moments and count stay untouched before that.
"""

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax

AUDATT = 'audio_att_net'

Params = dict[str, Any]
OptState = dict[str, optax.OptState]


def learning_rate(train_config: ml_collections.ConfigDict, step: jax.Array | int) -> jax.Array:
  """The rate used at global step `step`: lrate * 0.1^((step - 1) / (lrate_decay * unit)).

  The authors set lr(g) after the update of step g, so step g runs at lr(g - 1); step 0 runs at lrate.
  """
  t = train_config
  elapsed = jnp.maximum(jnp.asarray(step, jnp.float32) - 1.0, 0.0)
  return t.lrate * 0.1 ** (elapsed / (t.lrate_decay * t.lrate_decay_unit))


def _adam() -> optax.GradientTransformation:
  return optax.scale_by_adam(b1=0.9, b2=0.999, eps=1e-8)


def _split(tree: Params) -> tuple[Params, Params]:
  """(everything but AudioAttNet, AudioAttNet)."""
  return {k: v for k, v in tree.items() if k != AUDATT}, tree[AUDATT]


def init_opt_state(params: Params) -> OptState:
  """Fresh Adam moments for `params` (a full DFRF param tree)."""
  main, audatt = _split(params)
  return {'main': _adam().init(main), 'audatt': _adam().init(audatt)}


def apply_gradients(params: Params, grads: Params, opt_state: OptState, step: jax.Array,
                    train_config: ml_collections.ConfigDict,
                    smoothing: bool) -> tuple[Params, OptState]:
  """One Adam step of every optimiser that steps at `step`.

  Args:
    params, grads: full DFRF param trees.
    opt_state: from `init_opt_state`.
    step: [] int, the global step being taken.
    train_config: the `train` config section (lrate, lrate_decay, lrate_decay_unit, audatt_lr_scale).
    smoothing: AudioAttNet is in use at this step (static); when False it is neither read nor updated.

  Returns:
    (new params, new optimiser state).
  """
  lr = learning_rate(train_config, step)
  main_params, audatt_params = _split(params)
  main_grads, audatt_grads = _split(grads)
  updates, main_state = _adam().update(main_grads, opt_state['main'])
  new_params = jax.tree.map(lambda p, u: p - lr * u, main_params, updates)
  audatt_state = opt_state['audatt']
  if smoothing:
    updates, audatt_state = _adam().update(audatt_grads, audatt_state)
    audatt_lr = lr * train_config.audatt_lr_scale
    audatt_params = jax.tree.map(lambda p, u: p - audatt_lr * u, audatt_params, updates)
  new_params[AUDATT] = audatt_params
  return new_params, {'main': main_state, 'audatt': audatt_state}
