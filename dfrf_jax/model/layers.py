"""Dense and convolution layers initialised as PyTorch initialises them, in float32 or bf16 arithmetic.

The authors train from PyTorch's defaults (weights and biases ~ U(+-1/sqrt(fan_in))); using the same
initialisation keeps from-scratch training faithful. Flax's own defaults (lecun normal, zero bias) differ.

`precision` (the config's top-level `precision`) selects the arithmetic of the kernel products:
'float32', or 'bf16': inputs and kernel rounded to bfloat16, products accumulated and returned in
float32 (parameters, biases, activations between layers and everything outside the products stay
float32). bf16 pays on GPUs (tensor cores); on CPUs it is usually slower.
"""

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


def torch_uniform(fan_in: int) -> nn.initializers.Initializer:
  """U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's default for Linear/Conv weights and biases."""
  bound = fan_in ** -0.5

  def init(key: jax.Array, shape: Sequence[int], dtype=jnp.float32) -> jax.Array:
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


PRECISIONS = ('float32', 'bf16')


def check_precision(precision: str) -> str:
  """Returns `precision` if it is one of PRECISIONS; otherwise raises a ValueError naming the field."""
  if precision not in PRECISIONS:
    raise ValueError(f'config.precision must be one of {PRECISIONS}, got {precision!r}')
  return precision


def _bf16_dot_general(lhs: jax.Array, rhs: jax.Array, dimension_numbers: Any, precision: Any = None,
                      preferred_element_type: Any = None) -> jax.Array:
  del preferred_element_type  # always float32 accumulation
  return jax.lax.dot_general(lhs.astype(jnp.bfloat16), rhs.astype(jnp.bfloat16), dimension_numbers,
                             precision=precision, preferred_element_type=jnp.float32)


def _bf16_conv(lhs: jax.Array, rhs: jax.Array, *args: Any, preferred_element_type: Any = None,
               **kwargs: Any) -> jax.Array:
  del preferred_element_type
  return jax.lax.conv_general_dilated(lhs.astype(jnp.bfloat16), rhs.astype(jnp.bfloat16), *args,
                                      preferred_element_type=jnp.float32, **kwargs)


def dense_dot_general(precision: str) -> Any:
  """The `dot_general` argument of nn.Dense for `precision` (None: Flax's float32 default)."""
  return _bf16_dot_general if check_precision(precision) == 'bf16' else None


def torch_dense(features: int, fan_in: int, name: str, precision: str = 'float32') -> nn.Dense:
  """A Dense layer with PyTorch's default initialisation, for inputs of width `fan_in`."""
  init = torch_uniform(fan_in)
  return nn.Dense(features, kernel_init=init, bias_init=init, name=name,
                  dot_general=dense_dot_general(precision))


class ConcatDense(nn.Module):
  """A Dense layer over `concatenate(inputs, -1)` that never builds the concatenation.

  The kernel's rows are split by input and each input is multiplied by its own rows at its own
  shape; the products are broadcast in the sum. An input with fewer leading axes than the others (a
  per-frame audio code, a point embedding shared by every reference) is thus multiplied once, not
  once per sample or per reference, and no broadcast copy of it is made. Parameters are nn.Dense's
  ('kernel' [sum of widths, features], 'bias' [features]; PyTorch's initialisation for that fan-in
  unless `kernel_init` / `bias_init` are given), so checkpoints and the authors' weights load
  unchanged.
  """
  features: int
  precision: str = 'float32'
  kernel_init: nn.initializers.Initializer | None = None
  bias_init: nn.initializers.Initializer | None = None

  @nn.compact
  def __call__(self, inputs: Sequence[jax.Array]) -> jax.Array:
    """inputs: arrays [..., C_i] whose leading axes broadcast together -> [..., features]."""
    widths = [x.shape[-1] for x in inputs]
    default = torch_uniform(sum(widths))
    kernel = self.param('kernel', self.kernel_init or default, (sum(widths), self.features))
    bias = self.param('bias', self.bias_init or default, (self.features,))
    dot = dense_dot_general(self.precision) or jax.lax.dot_general
    out, start = bias, 0
    for x, width in zip(inputs, widths):
      part = kernel[start:start + width]
      out = out + dot(x, part, (((x.ndim - 1,), (0,)), ((), ())))
      start += width
    return out


def dense(x: jax.Array, features: int, name: str, precision: str = 'float32') -> jax.Array:
  """Applies a `torch_dense` layer to x (inside an `nn.compact` method)."""
  return torch_dense(features, x.shape[-1], name, precision)(x)


def conv(x: jax.Array, features: int, kernel_size: Sequence[int], strides: Sequence[int],
         name: str, precision: str = 'float32') -> jax.Array:
  """A zero-padded ('same' for odd kernels, padding k//2 on each side) convolution, PyTorch-initialised."""
  fan_in = x.shape[-1]
  for k in kernel_size:
    fan_in *= k
  init = torch_uniform(fan_in)
  padding = tuple((k // 2, k // 2) for k in kernel_size)
  bf16 = check_precision(precision) == 'bf16'
  return nn.Conv(features, tuple(kernel_size), strides=tuple(strides), padding=padding,
                 kernel_init=init, bias_init=init, name=name,
                 conv_general_dilated=_bf16_conv if bf16 else None)(x)
