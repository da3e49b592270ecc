"""The assembled model: sizes from the spec, switches, and where gradients may and may not flow."""

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dfrf_jax.config import default_config
from dfrf_jax.model.dfrf import DFRF, build_model, init_params
from tests.model.conftest import query, query_inputs


def _tiny_config(**model_overrides):
  c = default_config()
  c.model.netwidth = c.model.netwidth_fine = 32
  c.model.netdepth = 4
  c.model.skips = (2,)
  for k, v in model_overrides.items():
    c.model[k] = v
  return c


def test_parameter_count_matches_the_authors_model():
  # Spec section 3.10: 1 957 487 parameters, of which 2 x 65 792 are the dead feature_linear layers.
  model = build_model(default_config().model)
  shapes = jax.eval_shape(lambda k: init_params(model, k), jax.random.PRNGKey(0))
  total = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(shapes))
  assert total == 1_957_487 - 2 * 65_792
  flat = flax.traverse_util.flatten_dict(shapes, sep='/')
  assert flat['coarse/pts_0/kernel'].shape == (383, 256)
  assert flat['coarse/pts_5/kernel'].shape == (639, 256)
  assert flat['warp/dense_0/kernel'].shape == (255, 128)
  assert flat['slot_attention/fc7/kernel'].shape == (225, 128)


def test_query_shapes_and_offset_bounds():
  model = build_model(_tiny_config().model)
  params = init_params(model, jax.random.PRNGKey(0))
  # Large warp weights so offsets saturate at the clamp.
  params = jax.tree_util.tree_map_with_path(
      lambda p, x: x * 1e4 if 'warp' in jax.tree_util.keystr(p) else x, params)
  out = query(model, params, *query_inputs())
  assert out.raw.shape == (12, 4)
  assert out.offsets.shape == (4, 12, 2)
  assert float(jnp.max(jnp.abs(out.offsets))) == pytest.approx(10.0)


def test_query_fields_equals_one_query_per_field():
  # One aggregation shared by both fields: what aggregate, then each field's radiance, give.
  model = build_model(_tiny_config().model)
  params = init_params(model, jax.random.PRNGKey(0))
  images, poses, points, viewdirs, code = query_inputs()
  feats = model.apply({'params': params}, images, poses, method=DFRF.reference_features)
  noise = jax.random.normal(jax.random.PRNGKey(1), (points.shape[0], 2, 128))
  args = (points, viewdirs, code, feats, poses, 20.0, noise)
  both = jax.jit(lambda: model.apply({'params': params}, *args, (True, False),
                                     method=DFRF.query_fields))()
  assert both.raw.shape == (12, 2, 4)
  fused, offsets = jax.jit(lambda: model.apply(
      {'params': params}, points, code, feats, poses, 20.0, noise, method=DFRF.aggregate))()
  np.testing.assert_allclose(both.offsets, offsets, rtol=1e-5, atol=1e-6)
  for column, fine in enumerate((True, False)):
    raw = jax.jit(lambda fine=fine: model.apply({'params': params}, fused, points, viewdirs, code,
                                                fine, method=DFRF.radiance))()
    np.testing.assert_allclose(both.raw[:, column], raw, rtol=1e-5, atol=1e-6)
  # The two fields differ (else the test could not tell them apart).
  assert float(jnp.max(jnp.abs(both.raw[:, 0] - both.raw[:, 1]))) > 1e-3


def test_no_warp_gives_zero_offsets_and_ignores_warp_params():
  model = build_model(_tiny_config().model)
  params = init_params(model, jax.random.PRNGKey(0))
  inputs = query_inputs()
  out = query(model, params, *inputs, use_warp=False)
  np.testing.assert_array_equal(out.offsets, 0.0)
  changed = dict(params, warp=jax.tree.map(lambda x: x + 1.0, params['warp']))
  np.testing.assert_array_equal(query(model, changed, *inputs, use_warp=False).raw, out.raw)


def test_warp_sample_point_switch_changes_the_lookup():
  inputs = query_inputs()
  code_model = build_model(_tiny_config().model)
  paper_model = build_model(_tiny_config(warp_sample_point='paper').model)
  params = init_params(code_model, jax.random.PRNGKey(1))
  raw_code = query(code_model, params, *inputs).raw
  raw_paper = query(paper_model, params, *inputs).raw
  assert not np.allclose(raw_code, raw_paper)


def test_bad_switch_value_is_a_clear_error():
  model = build_model(_tiny_config(warp_sample_point='nearest').model)
  with pytest.raises(ValueError, match='warp_sample_point'):
    init_params(model, jax.random.PRNGKey(0))


def test_gradients_reach_the_warp_but_not_audio_or_cnn_through_it():
  model = build_model(_tiny_config().model)
  params = init_params(model, jax.random.PRNGKey(2))
  images, poses, points, viewdirs, code = query_inputs()

  def loss(params, code):
    return jnp.sum(query(model, params, images, poses, points, viewdirs, code).raw)

  grads = jax.jit(jax.grad(loss))(params, code)
  assert float(jnp.abs(grads['warp']['dense_0']['kernel']).sum()) > 0
  assert float(jnp.abs(grads['feature_net']['conv_0']['kernel']).sum()) > 0

  # The audio code reaches the field directly; its path through the warp is gradient-stopped. With
  # zero warp weights the offsets are 0, as with use_warp=False, so the code's gradients must agree.
  def field_only(code):
    out = query(model, params, images, poses, points, viewdirs, code, use_warp=False)
    return jnp.sum(out.raw)
  zero_warp = dict(params, warp=jax.tree.map(jnp.zeros_like, params['warp']))
  _, code_grad_zero = jax.jit(jax.grad(loss, argnums=(0, 1)))(zero_warp, code)
  np.testing.assert_allclose(code_grad_zero, jax.jit(jax.grad(field_only))(code), rtol=1e-5,
                             atol=1e-6)
