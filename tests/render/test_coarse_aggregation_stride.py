"""Coarse anchors (`render.accel.coarse_aggregation_stride`): the coarse pass aggregates F~ at every
k-th occupied sample of a run along a ray (and the run's last), and the coarse samples between run
both fields on F~ interpolated between those anchors. Checked against float64 NumPy re-derivations."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from dfrf_jax.model.dfrf import DFRF
from dfrf_jax.render import accelerated
from tests.render.conftest import FAR, NEAR, SIZE, all_occupied, march_scene
from tests.render.test_feature_interpolation import _lerp_reference


def _anchors_reference(occupied: np.ndarray, stride: int) -> np.ndarray:
  out = np.zeros_like(occupied)
  for r, row in enumerate(occupied):
    c = 0
    while c < len(row):
      if not row[c]:
        c += 1
        continue
      end = c
      while end + 1 < len(row) and row[end + 1]:
        end += 1
      out[r, c:end + 1:stride] = True
      out[r, end] = True
      c = end + 1
  return out


@pytest.mark.parametrize('stride', [1, 2, 3])
def test_anchors_are_every_kth_sample_of_each_run_and_its_last(stride):
  occupied = np.random.default_rng(stride).uniform(size=(16, 20)) < 0.7
  occupied[0] = True    # one run over the whole ray
  occupied[1] = False   # no occupied sample
  got = np.asarray(accelerated._anchors(jnp.asarray(occupied), stride))
  np.testing.assert_array_equal(got, _anchors_reference(occupied, stride))
  assert got[0, 0] and got[0, -1] and not got[1].any()


def _render_config(scene, stride: int, train: bool = False):
  c = ml_collections.ConfigDict(scene.render_config.to_dict())
  c.accel.termination_threshold = 0.0
  c.accel.interpolate_features = c.accel.train_interpolate_features = True
  c.accel.coarse_aggregation_stride = stride
  return ml_collections.FrozenConfigDict(c)


def _full_budget(rc, num_segments: int) -> accelerated.SampleBudget:
  num_rays = SIZE * SIZE
  return accelerated.SampleBudget(
      coarse=tuple(accelerated._segment_capacity(num_rays, rc.N_samples, num_segments)),
      fine=tuple(accelerated._segment_capacity(num_rays, rc.N_samples + rc.N_importance,
                                               num_segments)))


def _reference_raw(scene, z_coarse: np.ndarray, z: np.ndarray, known: np.ndarray,
                   fine: bool) -> np.ndarray:
  """raw [R, Z, 4] of one field at depths z from F~ aggregated at the coarse depths in `known` and
  lerped between them in float64."""
  num_rays, num_coarse = z_coarse.shape
  fr = scene.frame
  o, d = np.asarray(scene.rays_o, np.float64), np.asarray(scene.rays_d, np.float64)
  points = (o[:, None] + d[:, None] * z_coarse[..., None]).reshape(-1, 3)
  fused, _ = scene.model.apply({'params': scene.params}, jnp.asarray(points, jnp.float32),
                               fr.audio_code, fr.ref_features, fr.ref_poses, fr.focal, None, True,
                               method=DFRF.aggregate)
  table = np.asarray(fused, np.float64)
  rows = np.arange(num_rays * num_coarse).reshape(num_rays, num_coarse)
  lerped, _ = _lerp_reference(z_coarse, z, known, table, rows)
  viewdirs = d / np.linalg.norm(d, axis=-1, keepdims=True)
  raw = scene.model.apply(
      {'params': scene.params}, jnp.asarray(lerped.reshape(-1, table.shape[1]), jnp.float32),
      jnp.asarray((o[:, None] + d[:, None] * z[..., None]).reshape(-1, 3), jnp.float32),
      jnp.asarray(np.repeat(viewdirs, z.shape[1], 0), jnp.float32), fr.audio_code, fine,
      method=DFRF.radiance)
  return np.asarray(raw).reshape(num_rays, z.shape[1], 4)


def test_coarse_samples_between_anchors_run_both_fields_on_lerped_features(scene):
  rc = _render_config(scene, stride=2)
  out, stats = jax.jit(lambda: march_scene(
      scene, scene.params, rc, None, False,
      all_occupied(scene, _full_budget(rc, rc.accel.num_segments))))()
  num_rays, num_coarse = SIZE * SIZE, rc.N_samples
  z_coarse = np.broadcast_to(np.linspace(NEAR, FAR, num_coarse), (num_rays, num_coarse))
  occupied = np.ones((num_rays, num_coarse), bool)
  occupied[:, -1] = False  # the background sample is never evaluated
  anchors = _anchors_reference(occupied, 2)
  coarse = _reference_raw(scene, z_coarse, z_coarse, anchors, fine=False)
  np.testing.assert_allclose(out.sigma_coarse[:, :-1], coarse[:, :-1, 3], atol=2e-4)
  z_fine = np.asarray(out.z_fine, np.float64)
  fine = _reference_raw(scene, z_coarse, z_fine, anchors, fine=True)
  np.testing.assert_allclose(out.sigma_fine[:, :-1], fine[:, :-1, 3], atol=2e-4)
  # Aggregations only at the anchors; the samples between them and every importance sample are
  # interpolated, none dropped.
  assert int(stats.coarse_evaluated) == int(anchors.sum()) < num_rays * (num_coarse - 1)
  assert int(stats.coarse_interpolated) == int((occupied & ~anchors).sum()) > 0
  assert int(stats.fine_interpolated) == num_rays * rc.N_importance
  assert int(stats.overflow) == 0 and int(stats.fine_unbracketed) == 0


def test_training_gradients_reach_the_aggregation_through_the_anchors(scene):
  rc = _render_config(scene, stride=2, train=True)
  state = all_occupied(scene, _full_budget(rc, 1))
  key = jax.random.PRNGKey(3)

  def loss(params):
    out, _ = march_scene(scene, params, rc, key, True, state)
    return jnp.sum(out.fine.rgb) + jnp.sum(out.coarse.rgb)

  grads = jax.jit(jax.grad(loss))(scene.params)
  for name, tree in grads.items():
    leaves = [np.asarray(g) for g in jax.tree.leaves(tree)]
    assert all(np.isfinite(g).all() for g in leaves), name
  # The frame's audio code and reference features are inputs here: warp and slot attention are the
  # aggregation's own parameters.
  for name in ('warp', 'slot_attention', 'coarse', 'fine'):
    assert any(np.abs(np.asarray(g)).max() > 0 for g in jax.tree.leaves(grads[name])), name
