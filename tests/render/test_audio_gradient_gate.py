"""`Rays.trains_audio`: rays outside the mask pass no gradient to the audio code, and nothing else changes.

For any loss summed over rays, the gated gradient with respect to the audio code equals the ungated
gradient of the loss of the masked rays alone (rays do not interact), while the values and the
gradients of every parameter are those of the ungated march. Checked for the dense marcher and the
accelerated one (every cell occupied, interpolated features).
"""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from dfrf_jax.render import accelerated
from dfrf_jax.render.rays import Field, MarchMode, Rays
from dfrf_jax.render.renderer import march
from tests.render.conftest import FAR, NEAR, SIZE, all_occupied

# Rays 0..39 of the 64 train the audio code, the rest do not.
MASK = np.arange(SIZE * SIZE) < 40


def _per_ray_loss(out, target):
  """[R] squared error of both passes' colours."""
  return jnp.sum((out.fine.rgb - target) ** 2 + (out.coarse.rgb - target) ** 2, -1)


def _loss_fn(scene, render_config, state, trains_audio):
  """Jitted (params, code, weights [R]) -> (sum of weights x per-ray loss, its gradients)."""
  target = jnp.asarray(np.random.default_rng(1).uniform(size=(SIZE * SIZE, 3)), jnp.float32)

  def loss(params, code, weights):
    field = Field(model=scene.model, params=params, frame=scene.frame.replace(audio_code=code))
    rays = Rays(origins=scene.rays_o, directions=scene.rays_d, background=scene.bg, near=NEAR,
                far=FAR, trains_audio=trains_audio)
    out, _ = march(field, rays, None, MarchMode(render_config, False), state)
    return jnp.sum(weights * _per_ray_loss(out, target))

  return jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))


def _render_setups(scene):
  rc = scene.render_config
  budget = accelerated.SampleBudget(coarse=(SIZE * SIZE * (rc.N_samples - 1),),
                                    fine=(SIZE * SIZE * (rc.N_samples + rc.N_importance - 1),))
  setups = {'dense': (rc, None)}
  # With interpolated features the coarse pass aggregates (`_query_fn`) and the fine pass only runs
  # the fields' MLPs (`_interpolated_fn`): both ways the accelerated marcher queries a field.
  c = ml_collections.ConfigDict(rc.to_dict())
  c.accel.point_chunk = max(budget.fine)
  c.accel.interpolate_features = True
  setups['accelerated'] = (ml_collections.FrozenConfigDict(c), all_occupied(scene, budget))
  return setups


@pytest.mark.parametrize('sampler', ['dense', 'accelerated'])
def test_only_masked_rays_train_the_audio_code(scene, sampler):
  render_config, state = _render_setups(scene)[sampler]
  code = scene.frame.audio_code
  everywhere = jnp.ones((SIZE * SIZE,), jnp.float32)
  gated_value, (gated_params, gated_code) = _loss_fn(
      scene, render_config, state, jnp.asarray(MASK))(scene.params, code, everywhere)
  ungated = _loss_fn(scene, render_config, state, None)
  value, (params_grad, code_grad) = ungated(scene.params, code, everywhere)
  _, (_, masked_code_grad) = ungated(scene.params, code, jnp.asarray(MASK, jnp.float32))

  np.testing.assert_allclose(gated_value, value, rtol=1e-6)
  # The gate stops only the outside rays' share of the code's gradient...
  np.testing.assert_allclose(gated_code, masked_code_grad, rtol=1e-4,
                             atol=1e-6 * float(jnp.max(jnp.abs(masked_code_grad))))
  assert float(jnp.max(jnp.abs(code_grad - masked_code_grad))) > 1e-2 * float(
      jnp.max(jnp.abs(code_grad))), 'the outside rays must matter to the ungated gradient'
  # ... and leaves every parameter's gradient as it was. The gated march reads the code per sample,
  # the ungated one once, so sums run in another order: the tolerance is relative to the largest
  # gradient of all (some leaves' gradients are ~1e-12, rounding noise of a zero).
  scale = max(float(jnp.max(jnp.abs(w))) for w in jax.tree.leaves(params_grad))
  for (path, g), w in zip(jax.tree_util.tree_leaves_with_path(gated_params),
                          jax.tree.leaves(params_grad)):
    np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6 * scale,
                               err_msg=jax.tree_util.keystr(path))


def test_mask_shape_is_checked(scene):
  rays = Rays(origins=scene.rays_o, directions=scene.rays_d, background=scene.bg, near=NEAR,
              far=FAR, trains_audio=jnp.ones((3,), bool))
  with pytest.raises(AssertionError):
    rays.check()
