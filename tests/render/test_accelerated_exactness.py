"""With every cell occupied and no early termination, the accelerated renderer is the dense one,
with and without the fine pass reusing the coarse pass's aggregated features (no slot noise here),
when importance samples are aggregated, not interpolated (test_feature_interpolation.py)."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from dfrf_jax.render import accelerated
from dfrf_jax.render.rays import Field, MarchMode, View
from dfrf_jax.render.renderer import march_image, render_image, render_rays
from tests.render.conftest import FAR, INTRINSICS, NEAR, SIZE, all_occupied, march_scene


def _render_config(render_config, reuse: bool):
  c = ml_collections.ConfigDict(render_config.to_dict())
  c.accel.termination_threshold = 0.0
  c.accel.reuse_coarse_features = reuse
  c.accel.interpolate_features = False
  return ml_collections.FrozenConfigDict(c)


def _assert_same(got, want):
  for name in ('rgb', 'acc', 'depth', 'disp', 'weights', 'last_weight'):
    np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=1e-5, atol=1e-6,
                               err_msg=name)


@pytest.mark.parametrize('reuse', [True, False])
def test_all_occupied_rays_equal_the_dense_rays_in_training_mode(scene, reuse):
  # train=True: stratified depths and random importance samples from the same key, no termination.
  rc = _render_config(scene.render_config, reuse)
  key = jax.random.PRNGKey(5)
  args = (scene.model, scene.params, scene.frame)
  rays = (scene.rays_o, scene.rays_d, scene.bg, NEAR, FAR, rc, key, True)
  dense = jax.jit(lambda: render_rays(*args, *rays))()
  budget = accelerated.SampleBudget(coarse=(2048,), fine=(4096,))
  state = all_occupied(scene, budget)
  acc, stats = jax.jit(lambda: march_scene(scene, scene.params, rc, key, True, state))()
  _assert_same(acc.coarse, dense.coarse)
  _assert_same(acc.fine, dense.fine)
  np.testing.assert_allclose(acc.z_fine, dense.z_fine, rtol=1e-5)
  np.testing.assert_allclose(acc.z_std, dense.z_std, rtol=1e-5)
  # Everything but the background sample is evaluated; there the dense path's evaluation is unused.
  # (Importance depths agree to ~1e-6 only, as the weights they come from; hence the 1e-4.)
  np.testing.assert_allclose(acc.sigma_fine[:, :-1], dense.sigma_fine[:, :-1], atol=1e-4)
  np.testing.assert_allclose(acc.offsets_fine[:, :, :-1], dense.offsets_fine[:, :, :-1], atol=1e-4)
  np.testing.assert_array_equal(acc.sigma_fine[:, -1], accelerated.EMPTY_DENSITY)
  num_rays = SIZE * SIZE
  assert int(stats.coarse_evaluated) == num_rays * (rc.N_samples - 1)
  # With reuse only the importance samples need their aggregated features; the coarse depths
  # (background excluded) take the coarse pass's.
  reused = num_rays * (rc.N_samples - 1) if reuse else 0
  assert int(stats.fine_reused) == reused
  assert int(stats.fine_evaluated) == num_rays * (rc.N_samples + rc.N_importance - 1) - reused
  assert int(stats.overflow) == 0 and int(stats.rays_skipped) == 0


@pytest.mark.parametrize('reuse', [True, False])
def test_all_occupied_frame_equals_the_dense_frame(scene, reuse):
  rc = _render_config(scene.render_config, reuse)
  intrinsics = jnp.array(INTRINSICS)
  bg = scene.bg.reshape(SIZE, SIZE, 3)
  dense = render_image(scene.model, scene.params, scene.frame, scene.c2w, bg, intrinsics, NEAR, FAR,
                       None, height=SIZE, width=SIZE, render_config=rc, chunk=32)
  budget = accelerated.SampleBudget(coarse=(1024,) * 4, fine=(2048,) * 4)
  image, stats = march_image(
      Field(model=scene.model, params=scene.params, frame=scene.frame),
      View(c2w=scene.c2w, intrinsics=intrinsics, background=bg, near=NEAR, far=FAR), None,
      MarchMode(rc), all_occupied(scene, budget))
  for name in ('rgb', 'rgb0', 'acc', 'acc0', 'depth', 'disp', 'last_weight'):
    np.testing.assert_allclose(getattr(image, name), getattr(dense, name), rtol=1e-5, atol=1e-6,
                               err_msg=name)
  assert int(stats.overflow) == 0
