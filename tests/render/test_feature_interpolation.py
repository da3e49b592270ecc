"""Interpolated features (`render.accel.interpolate_features`): the fine pass's importance samples
take F~ interpolated along the ray between the nearest coarse samples the coarse pass evaluated, and
only the fine field's MLP runs there. Checked against float64 NumPy re-derivations."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from dfrf_jax.model.dfrf import DFRF
from dfrf_jax.render import accelerated
from dfrf_jax.render.rays import ray_keys
from dfrf_jax.render.sampling import FineDepths, coarse_z, merge_sorted
from tests.render.conftest import FAR, NEAR, SIZE, all_occupied, march_scene


def _lerp_reference(z_coarse: np.ndarray, z_fine: np.ndarray, known: np.ndarray,
                    table: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Per fine depth: the features lerped between the last known coarse depth at or before it and the
  first known one at or after it (the one there is, if only one), and whether there is one."""
  num_rays, num_fine = z_fine.shape
  out = np.zeros((num_rays, num_fine, table.shape[1]))
  found = np.zeros((num_rays, num_fine), bool)
  for r in range(num_rays):
    cols = np.flatnonzero(known[r])
    for j, depth in enumerate(z_fine[r]):
      before = [c for c in cols if z_coarse[r, c] <= depth]
      after = [c for c in cols if z_coarse[r, c] >= depth]
      if not before and not after:
        continue
      found[r, j] = True
      lo = before[-1] if before else after[0]
      hi = after[0] if after else lo
      span = z_coarse[r, hi] - z_coarse[r, lo]
      share = 0.0 if span == 0 else (depth - z_coarse[r, lo]) / span
      out[r, j] = (1 - share) * table[rows[r, lo]] + share * table[rows[r, hi]]
  return out, found


def test_brackets_lerp_between_the_nearest_evaluated_coarse_samples():
  rng = np.random.default_rng(0)
  num_rays, num_coarse, num_importance = 6, 9, 12
  z_coarse = np.sort(rng.uniform(0.5, 1.5, (num_rays, num_coarse)), 1).astype(np.float32)
  samples = rng.uniform(0.5, 1.5, (num_rays, num_importance)).astype(np.float32)
  samples[0, 3] = z_coarse[0, 4]  # an importance sample exactly at a coarse depth
  samples = np.sort(samples, 1)
  known = rng.uniform(size=(num_rays, num_coarse)) < 0.5
  known[1] = False                # a ray with no evaluated coarse sample
  known[2] = False
  known[2, 4] = True              # ... and one with a single one
  rows = np.where(known, np.cumsum(known.reshape(-1)).reshape(known.shape) - 1, -1).astype(np.int32)
  table = rng.normal(size=(int(known.sum()), 5))
  merged, source = merge_sorted(jnp.asarray(z_coarse), jnp.asarray(samples))
  depths = FineDepths(z=merged, samples=jnp.asarray(samples), source=source)

  b = accelerated._brackets(jnp.asarray(z_coarse), depths, jnp.asarray(rows))

  want, want_found = _lerp_reference(z_coarse.astype(np.float64), np.asarray(merged, np.float64),
                                     known, table, rows)
  np.testing.assert_array_equal(np.asarray(b.found), want_found)
  share = np.where(b.first < 0, 1.0, np.where(b.second < 0, 0.0, b.share))[..., None]
  got = (1 - share) * table[np.maximum(b.first, 0)] + share * table[np.maximum(b.second, 0)]
  np.testing.assert_allclose(np.where(want_found[..., None], got, 0.0), want, atol=1e-5)
  assert not np.any(want_found[1]) and np.all(want_found[2])


def _render_config(scene, interpolate: bool, train: bool = False):
  c = ml_collections.ConfigDict(scene.render_config.to_dict())
  c.accel.termination_threshold = 0.0
  c.accel.interpolate_features = interpolate
  c.accel.train_interpolate_features = interpolate and train
  return ml_collections.FrozenConfigDict(c)


def _reference_fine_raw(scene, z_coarse: np.ndarray, z_fine: np.ndarray) -> np.ndarray:
  """raw [R, S+M, 4] of the fine field at z_fine from F~ aggregated at every coarse depth but the
  last (the background sample, never evaluated) and lerped in float64."""
  num_rays, num_coarse = z_coarse.shape
  fr = scene.frame
  points = (np.asarray(scene.rays_o)[:, None] + np.asarray(scene.rays_d)[:, None]
            * z_coarse[..., None]).reshape(-1, 3)
  fused, _ = scene.model.apply({'params': scene.params}, jnp.asarray(points, jnp.float32),
                               fr.audio_code, fr.ref_features, fr.ref_poses, fr.focal, None, True,
                               method=DFRF.aggregate)
  table = np.asarray(fused, np.float64)
  rows = np.arange(num_rays * num_coarse).reshape(num_rays, num_coarse)
  known = np.ones_like(rows, bool)
  known[:, -1] = False
  lerped, _ = _lerp_reference(z_coarse, z_fine, known, table, rows)
  fine_points = np.asarray(scene.rays_o)[:, None] + np.asarray(scene.rays_d)[:, None] * z_fine[..., None]
  viewdirs = np.asarray(scene.rays_d) / np.linalg.norm(np.asarray(scene.rays_d), axis=-1, keepdims=True)
  raw = scene.model.apply({'params': scene.params}, jnp.asarray(lerped.reshape(-1, table.shape[1]),
                                                                jnp.float32),
                          jnp.asarray(fine_points.reshape(-1, 3), jnp.float32),
                          jnp.asarray(np.repeat(viewdirs, z_fine.shape[1], 0), jnp.float32),
                          fr.audio_code, True, method=DFRF.radiance)
  return np.asarray(raw).reshape(num_rays, z_fine.shape[1], 4)


def test_importance_samples_run_the_fine_field_on_lerped_features(scene):
  rc = _render_config(scene, interpolate=True)
  budget = accelerated.initial_budget(SIZE * SIZE, rc)._replace(
      coarse=tuple(accelerated._segment_capacity(SIZE * SIZE, rc.N_samples, rc.accel.num_segments)),
      fine=tuple(accelerated._segment_capacity(SIZE * SIZE, rc.N_samples + rc.N_importance,
                                               rc.accel.num_segments)))
  out, stats = jax.jit(lambda: march_scene(scene, scene.params, rc, None, False,
                                           all_occupied(scene, budget)))()
  num_rays = SIZE * SIZE
  z_coarse = np.broadcast_to(np.linspace(NEAR, FAR, rc.N_samples), (num_rays, rc.N_samples))
  z_fine = np.asarray(out.z_fine, np.float64)
  want = _reference_fine_raw(scene, z_coarse, z_fine)
  # Every sample but the background one: coarse depths reuse the coarse pass's fine-field values,
  # importance samples run the fine field on the lerped F~.
  np.testing.assert_allclose(out.sigma_fine[:, :-1], want[:, :-1, 3], atol=2e-4)
  # Only the coarse pass aggregates; every importance sample is interpolated, none left empty.
  assert int(stats.coarse_evaluated) == num_rays * (rc.N_samples - 1)
  assert int(stats.fine_interpolated) == int(stats.fine_evaluated) == num_rays * rc.N_importance
  assert int(stats.fine_unbracketed) == 0 and int(stats.overflow) == 0


def test_training_offsets_at_importance_samples_are_lerped_coarse_offsets(scene):
  # Training (stratified depths, random importance samples): the offset regulariser sees, at each
  # importance sample, the warp offsets lerped as its F~ is.
  rc = _render_config(scene, interpolate=True, train=True)
  budget = accelerated.SampleBudget(
      coarse=(SIZE * SIZE * (rc.N_samples - 1),),
      fine=(SIZE * SIZE * (rc.N_samples + rc.N_importance - 1),))
  key = jax.random.PRNGKey(2)
  out, stats = jax.jit(lambda: march_scene(scene, scene.params, rc, key, True,
                                           all_occupied(scene, budget)))()
  dense, _ = jax.jit(lambda: march_scene(scene, scene.params, rc, key, True, None))()
  num_rays = SIZE * SIZE
  z_coarse = np.broadcast_to(np.asarray(coarse_z(NEAR, FAR, rc.N_samples, lindisp=rc.lindisp,
                                                 key=ray_keys(key).strata), np.float64),
                             (num_rays, rc.N_samples))
  z_fine = np.asarray(out.z_fine, np.float64)
  np.testing.assert_allclose(out.z_fine, dense.z_fine, rtol=1e-5)  # same key, same depths
  # The dense march's offsets at the coarse depths (warp offsets depend on the point and the audio).
  dense_offsets = np.asarray(dense.offsets_fine, np.float64)          # [N, R, S+M, 2]
  num_refs = dense_offsets.shape[0]
  dense_z = np.asarray(dense.z_fine, np.float64)
  columns = np.argmin(np.abs(dense_z[:, None, :] - z_coarse[:, :, None]), -1)   # [R, S]
  np.testing.assert_allclose(np.take_along_axis(dense_z, columns, 1), z_coarse, rtol=1e-6)
  z_coarse = np.take_along_axis(dense_z, columns, 1)  # the depths as the march computed them
  table = np.concatenate([dense_offsets[n][np.arange(num_rays)[:, None], columns].reshape(-1, 2)
                          for n in range(num_refs)], -1)             # [R * S, N * 2]
  rows = np.arange(num_rays * rc.N_samples).reshape(num_rays, rc.N_samples)
  known = np.ones_like(rows, bool)
  known[:, -1] = False
  want, _ = _lerp_reference(z_coarse, z_fine, known, table, rows)
  want = np.moveaxis(want.reshape(num_rays, -1, num_refs, 2), 2, 0)
  np.testing.assert_allclose(out.offsets_fine[:, :, :-1], want[:, :, :-1], atol=1e-4)
  assert int(stats.fine_interpolated) == num_rays * rc.N_importance
  assert float(np.abs(want).max()) > 1e-3  # offsets that are not all zero
