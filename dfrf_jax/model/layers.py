"""Dense and convolution layers initialised as PyTorch initialises them.

The authors train from PyTorch's defaults (weights and biases ~ U(+-1/sqrt(fan_in))); using the same
initialisation keeps from-scratch training faithful. Flax's own defaults (lecun normal, zero bias) differ.
"""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


def torch_uniform(fan_in: int) -> nn.initializers.Initializer:
  """U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's default for Linear/Conv weights and biases."""
  bound = fan_in ** -0.5

  def init(key: jax.Array, shape: Sequence[int], dtype=jnp.float32) -> jax.Array:
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


def torch_dense(features: int, fan_in: int, name: str) -> nn.Dense:
  """A Dense layer with PyTorch's default initialisation, for inputs of width `fan_in`."""
  init = torch_uniform(fan_in)
  return nn.Dense(features, kernel_init=init, bias_init=init, name=name)


def dense(x: jax.Array, features: int, name: str) -> jax.Array:
  """Applies a `torch_dense` layer to x (inside an `nn.compact` method)."""
  return torch_dense(features, x.shape[-1], name)(x)


def conv(x: jax.Array, features: int, kernel_size: Sequence[int], strides: Sequence[int],
         name: str) -> jax.Array:
  """A zero-padded ('same' for odd kernels, padding k//2 on each side) convolution, PyTorch-initialised."""
  fan_in = x.shape[-1]
  for k in kernel_size:
    fan_in *= k
  init = torch_uniform(fan_in)
  padding = tuple((k // 2, k // 2) for k in kernel_size)
  return nn.Conv(features, tuple(kernel_size), strides=tuple(strides), padding=padding,
                 kernel_init=init, bias_init=init, name=name)(x)
