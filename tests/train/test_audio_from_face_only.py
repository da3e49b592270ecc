"""train.audio_from_face_only: the audio networks learn from the face rectangle's rays alone."""

import jax
import jax.numpy as jnp
import numpy as np

from dfrf_jax.data.dataset import load_dataset
from dfrf_jax.model.dfrf import build_model
from dfrf_jax.train import batches, state as state_lib
from dfrf_jax.train.step import loss_fn, trains_audio
from tests.train.conftest import DATASET, tiny_config

AUDIO_MODULES = ('audio_net', 'audio_att_net')


def test_face_rays_are_the_first_of_the_batch():
  config = tiny_config()
  config.data.N_rand, config.data.sample_rate, config.data.extra_outside_rate = 64, 0.9, 0.25
  assert config.train.audio_from_face_only  # the default
  np.testing.assert_array_equal(trains_audio(config, 80), np.arange(80) < 57)  # floor(64 * 0.9)
  config.train.audio_from_face_only = False
  assert trains_audio(config, 80) is None  # off: every ray (the authors' training)
  config.train.audio_from_face_only = True
  config.data.sample_rate = 0.0  # no face rectangle: every ray
  assert trains_audio(config, 64) is None


def _audio_grads(config, batch):
  """Gradients of the loss with respect to the audio networks' params (smoothing on)."""
  model = build_model(config.model)
  params = state_lib.fresh_params(model, jax.random.key(0))
  grad_fn = jax.jit(jax.grad(lambda p, b: loss_fn(p, model, config, b, jax.random.key(2), 0.6, 1.2,
                                                   True, True)[0]))
  grads = grad_fn(params, batch)
  return {name: grads[name] for name in AUDIO_MODULES}


def test_outside_rays_do_not_reach_the_audio_networks():
  config = tiny_config()
  config.data.extra_outside_rate = 0.25
  batch = batches.draw_batch(np.random.default_rng(0), load_dataset(DATASET), config)
  num_face = batches.face_rays_per_step(config)
  assert 0 < num_face < batches.rays_per_step(config)
  # Other colours for the outside rays only: with the option their loss changes, the audio
  # networks' gradient does not.
  other = batch.replace(target=jnp.asarray(batch.target).at[num_face:].set(
      1.0 - batch.target[num_face:]))
  for face_only in (True, False):
    config.train.audio_from_face_only = face_only
    before, after = _audio_grads(config, batch), _audio_grads(config, other)
    diff = max(float(jnp.max(jnp.abs(a - b))) for a, b in
               zip(jax.tree.leaves(before), jax.tree.leaves(after)))
    scale = max(float(jnp.max(jnp.abs(a))) for a in jax.tree.leaves(before))
    assert scale > 0.0
    if face_only:
      assert diff <= 1e-5 * scale, diff
    else:
      assert diff > 1e-2 * scale, diff
