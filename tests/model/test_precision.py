"""config.precision='bf16': bfloat16 kernel products with float32 accumulation, float32 everywhere else."""

import flax
import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest

from dfrf_jax.config import default_config
from dfrf_jax.model.dfrf import build_model, init_params
from tests.model.conftest import query, query_inputs


def _config():
  c = default_config()
  c.model.netwidth = c.model.netwidth_fine = 64
  c.model.netdepth = 4
  c.model.skips = (2,)
  return c


def _scaled_params(model):
  # Larger warp weights than the N(0, 1e-3) init, so the offsets (and their rounding) are not ~0.
  params = init_params(model, jax.random.PRNGKey(0))
  return jax.tree_util.tree_map_with_path(
      lambda p, x: x * 300.0 if 'warp' in jax.tree_util.keystr(p) else x, params)


def test_bf16_uses_the_same_float32_parameters():
  c = _config()
  shapes32 = jax.eval_shape(lambda k: init_params(build_model(c.model), k), jax.random.PRNGKey(0))
  shapes16 = jax.eval_shape(lambda k: init_params(build_model(c.model, 'bf16'), k),
                            jax.random.PRNGKey(0))
  flat32 = flax.traverse_util.flatten_dict(shapes32, sep='/')
  flat16 = flax.traverse_util.flatten_dict(shapes16, sep='/')
  assert flat32.keys() == flat16.keys()
  for name, leaf in flat16.items():
    assert leaf.shape == flat32[name].shape and leaf.dtype == jnp.float32, name


def _products(jaxpr):
  """Every dot_general / conv_general_dilated equation of a jaxpr, nested jaxprs included."""
  found = []
  for eqn in jaxpr.eqns:
    if eqn.primitive.name in ('dot_general', 'conv_general_dilated'):
      found.append(eqn)
    for sub in jax.extend.core.jaxprs_in_params(eqn.params):
      found.extend(_products(sub))
  return found


def test_bf16_products_take_bf16_inputs_and_accumulate_in_float32():
  c = _config()
  model = build_model(c.model, 'bf16')
  params = _scaled_params(model)
  jaxpr = jax.make_jaxpr(lambda p, *x: query(model, p, *x).raw)(params,
                                                                 *query_inputs(num_points=64))
  products = _products(jaxpr.jaxpr)
  bf16 = [e for e in products if [v.aval.dtype for v in e.invars] == [jnp.bfloat16] * 2]
  # Reference CNN (2 conv + 1 dense), warp (dense_0 as 3 parts: gamma(p), code, features; then 2),
  # slot attention (fc1, fc6, fc7 as 3 parts: token, gamma(p), side; to_k, to_v, then per iteration
  # to_q, gru_input, gru_hidden, mlp_0, mlp_1), fine field (pts_0 as 3 parts: F~, gamma(p), code;
  # pts_1, pts_2, pts_3 after the skip as 4 parts; alpha, 2 views, rgb).
  assert len(bf16) == 3 + (3 + 2) + (2 + 3 + 2 + c.model.slot_iters * 5) + (3 + 2 + 4 + 4)
  assert all(e.outvars[0].aval.dtype == jnp.float32 for e in bf16)
  # What stays float32: the projection into the references and the two attention einsums of each
  # slot iteration.
  rest = [e for e in products if e not in bf16]
  assert len(rest) == 1 + 2 * c.model.slot_iters
  assert all(v.aval.dtype == jnp.float32 for e in rest for v in e.invars)


def test_bf16_query_is_close_to_float32_but_not_equal():
  c = _config()
  m32, m16 = build_model(c.model), build_model(c.model, 'bf16')
  params = _scaled_params(m32)
  inputs = query_inputs(num_points=64)
  out32 = query(m32, params, *inputs)
  out16 = query(m16, params, *inputs)
  assert out16.raw.dtype == jnp.float32 and out16.offsets.dtype == jnp.float32
  raw_err = float(jnp.max(jnp.abs(out16.raw - out32.raw)))
  scale = float(jnp.max(jnp.abs(out32.raw)))
  # bf16 keeps 8 bits of mantissa: ~0.4% relative per rounding, a few per cent through the layers.
  assert 0.0 < raw_err < 0.05 * scale
  assert float(jnp.max(jnp.abs(out16.offsets - out32.offsets))) < 0.05 * float(
      jnp.max(jnp.abs(out32.offsets)))


def test_bf16_gradients_are_float32_and_match():
  c = _config()
  m32, m16 = build_model(c.model), build_model(c.model, 'bf16')
  params = _scaled_params(m32)
  inputs = query_inputs(num_points=64)

  def loss(model, p):
    return jnp.mean(query(model, p, *inputs).raw ** 2)

  g32 = jax.jit(jax.grad(lambda p: loss(m32, p)))(params)
  g16 = jax.jit(jax.grad(lambda p: loss(m16, p)))(params)
  for a, b in zip(jax.tree.leaves(g32), jax.tree.leaves(g16)):
    assert b.dtype == jnp.float32
  flat32 = jnp.concatenate([x.ravel() for x in jax.tree.leaves(g32)])
  flat16 = jnp.concatenate([x.ravel() for x in jax.tree.leaves(g16)])
  cosine = jnp.dot(flat32, flat16) / (jnp.linalg.norm(flat32) * jnp.linalg.norm(flat16))
  assert float(cosine) > 0.99


def test_unknown_precision_is_an_error():
  with pytest.raises(ValueError, match="config.precision must be one of .*'float16'"):
    build_model(_config().model, 'float16')
