"""Sequence planning and the per-sequence audio codes."""

import jax
import numpy as np
import pytest

from dfrf_jax.config import default_config
from dfrf_jax.data.audio_windows import smoothing_window
from dfrf_jax.model.dfrf import DFRF, build_model, init_params
from dfrf_jax.render import sequence


def test_ping_pong_plays_forwards_then_backwards():
  np.testing.assert_array_equal(sequence.ping_pong(9, 4), [0, 1, 2, 3, 2, 1, 0, 1, 2])
  np.testing.assert_array_equal(sequence.ping_pong(3, 1), [0, 0, 0])
  np.testing.assert_array_equal(sequence.ping_pong(3, 5), [0, 1, 2])
  with pytest.raises(ValueError, match='empty pose list'):
    sequence.ping_pong(3, 0)


@pytest.fixture(scope='module')
def model_and_params():
  c = default_config()
  c.model.netdepth, c.model.netwidth, c.model.netwidth_fine, c.model.skips = 2, 16, 16, (1,)
  model = build_model(c.model)
  return model, init_params(model, jax.random.PRNGKey(0))


@pytest.mark.parametrize('smoothing', [False, True])
def test_audio_codes_match_per_frame_model_calls(model_and_params, smoothing):
  model, params = model_and_params
  windows = np.random.default_rng(0).normal(size=(6, 16, 29)).astype(np.float32)
  codes = np.asarray(sequence.audio_codes(model, params, windows, smoothing))
  assert codes.shape == (6, 64)
  for t in (0, 3, 5):
    if smoothing:
      stack = smoothing_window(windows, t, 8, valid_count=6)
      if t == 0:
        assert not stack[:4].any()  # frames before the start are zero windows
      per_row = model.apply({'params': params}, stack, method=DFRF.encode_audio)
      want, _ = model.apply({'params': params}, per_row, method=DFRF.smooth_audio)
    else:
      want = model.apply({'params': params}, windows[t:t + 1], method=DFRF.encode_audio)[0]
    np.testing.assert_allclose(codes[t], want, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope='module')
def every_cell_setup():
  """The fixture identity, a tiny config whose grids mark every measured cell occupied, model, params
  and a one-frame plan (one model for the module, so its compiled renders are shared)."""
  import os
  from dfrf_jax.data.dataset import load_dataset
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  identity = load_dataset(os.path.join(root, 'fixtures', 'parity', 'dataset', 'synth_fixture'))[0]
  c = default_config()
  c.model.netdepth, c.model.netwidth, c.model.netwidth_fine, c.model.skips = 2, 16, 16, (1,)
  c.model.num_reference_images, c.model.slot_init = 2, 'mean'
  c.render.N_samples, c.render.N_importance = 8, 8
  c.render.accel.density_threshold = -1.0  # every cell occupied
  c.render.accel.grid_resolution, c.render.accel.grid_refinements = 8, 1
  c.render.accel.termination_threshold = 0.0
  c.render.accel.interpolate_features = False  # importance samples aggregated: exactly dense
  c.data.test_ref_positions = ()
  model = build_model(c.model)
  params = init_params(model, jax.random.PRNGKey(3))
  plan = sequence.self_driven_plan(identity, identity.val, max_frames=1)
  return identity, c, model, params, plan


def test_accelerated_plan_with_every_cell_occupied_equals_dense(every_cell_setup):
  identity, c, model, params, plan = every_cell_setup
  c = c.copy_and_resolve_references()
  images = {}
  for sampler in ('dense', 'accelerated'):
    c.render.sampler = sampler
    images[sampler] = next(sequence.render_plan(model, params, c, identity, plan, 0.6, 1.2, 0,
                                                jax.random.PRNGKey(0)))
  np.testing.assert_allclose(images['accelerated'].rgb, images['dense'].rgb, atol=1e-5)


def test_accelerated_plan_uses_a_given_grid_of_the_configured_resolutions(every_cell_setup):
  from dfrf_jax.render import occupancy
  identity, c, model, params, plan = every_cell_setup
  c = c.copy_and_resolve_references()
  c.render.sampler = 'accelerated'
  render = lambda grid: next(sequence.render_plan(model, params, c, identity, plan, 0.6, 1.2, 0,
                                                  jax.random.PRNGKey(0), grid)).rgb
  box = np.array([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]], np.float32)
  # -inf is below the threshold of -1: every cell empty, so each pixel is its background plate's,
  # whether the grid is refined here (a trained grid's resolution) or was refined already.
  resolution = c.render.accel.grid_resolution
  bg = identity.background(plan.split, int(plan.positions[0]))
  for cells in (resolution, 2 * resolution):
    empty = occupancy.init_occupancy(box, cells, -np.inf)
    np.testing.assert_allclose(render(empty), bg, atol=1e-6, err_msg=f'{cells} cells')
  # A grid of another resolution is not used: the plan gets its own (every cell occupied).
  other = occupancy.init_occupancy(box, 4 * resolution, -np.inf)
  built = render(None)
  np.testing.assert_array_equal(render(other), built)
  assert np.abs(built - bg).max() > 0.05


def test_render_image_with_a_chunk_that_does_not_divide_the_image(model_and_params):
  import jax.numpy as jnp
  import ml_collections
  from dfrf_jax.render.renderer import frame_inputs, render_image
  model, params = model_and_params
  rng = np.random.default_rng(1)
  poses = np.tile(np.eye(4, dtype=np.float32)[:3], (4, 1, 1))
  poses[:, 2, 3] = 1.0
  frame = frame_inputs(model, params, jnp.zeros(64), rng.uniform(size=(4, 6, 6, 3)).astype(np.float32),
                       poses, 8.0)
  c = default_config()
  c.render.N_samples, c.render.N_importance = 4, 4
  c.model.slot_init = 'mean'
  render_config = ml_collections.FrozenConfigDict(c.render)
  model_mean = build_model(ml_collections.ConfigDict(dict(model.config, slot_init='mean')))
  outs = [render_image(model_mean, params, frame, poses[0], np.zeros((6, 6, 3), np.float32),
                       jnp.array([8.0, 3.0, 3.0]), 0.5, 1.5, None, height=6, width=6,
                       render_config=render_config, chunk=chunk) for chunk in (36, 10)]
  assert outs[1].rgb.shape == (6, 6, 3)
  np.testing.assert_allclose(outs[1].rgb, outs[0].rgb, rtol=1e-5, atol=1e-6)
