"""ConcatDense: a Dense layer over a concatenation of broadcast parts, without building it."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dfrf_jax.model.layers import ConcatDense


@pytest.mark.parametrize('precision', ['float32', 'bf16'])
def test_concat_dense_is_dense_over_the_broadcast_concatenation(precision):
  rng = np.random.default_rng(0)
  shared = rng.normal(size=(1, 5, 3)).astype(np.float32)     # one row per point, for every reference
  constant = rng.normal(size=(4,)).astype(np.float32)         # one vector for the whole frame
  per_ref = rng.normal(size=(2, 5, 6)).astype(np.float32)
  layer = ConcatDense(7, precision)
  params = layer.init(jax.random.key(0), [shared, constant, per_ref])['params']
  assert params['kernel'].shape == (13, 7) and params['bias'].shape == (7,)
  got = np.asarray(layer.apply({'params': params}, [shared, constant, per_ref]))
  full = np.concatenate([np.broadcast_to(shared, (2, 5, 3)), np.broadcast_to(constant, (2, 5, 4)),
                         per_ref], -1).astype(np.float64)
  want = full @ np.asarray(params['kernel'], np.float64) + np.asarray(params['bias'], np.float64)
  assert got.shape == (2, 5, 7)
  tol = 1e-5 if precision == 'float32' else 3e-2
  np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_concat_dense_has_the_parameters_and_initialisation_of_dense():
  x = [jnp.ones((3, 4)), jnp.ones((3, 5))]
  ours = ConcatDense(6).init(jax.random.key(1), x)['params']
  bound = 9 ** -0.5  # PyTorch's U(+-1/sqrt(fan_in)) over the whole concatenated width
  assert float(jnp.max(jnp.abs(ours['kernel']))) <= bound
  assert float(jnp.max(jnp.abs(ours['bias']))) <= bound
  custom = ConcatDense(6, kernel_init=nn.initializers.zeros, bias_init=nn.initializers.ones)
  params = custom.init(jax.random.key(1), x)['params']
  np.testing.assert_array_equal(params['kernel'], 0.0)
  np.testing.assert_array_equal(params['bias'], 1.0)
  # Loads what an nn.Dense over the concatenation holds.
  dense = nn.Dense(6).init(jax.random.key(2), jnp.ones((3, 9)))['params']
  out = ConcatDense(6).apply({'params': dense}, x)
  np.testing.assert_allclose(out, nn.Dense(6).apply({'params': dense}, jnp.ones((3, 9))), rtol=1e-6)
