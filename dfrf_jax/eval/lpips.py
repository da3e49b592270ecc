"""LPIPS (v0.1, AlexNet) in Flax, with its weights read from the user's torchvision and LPIPS files.

LPIPS(x, y) = sum over the 5 AlexNet ReLU outputs l of mean over pixels of
sum_c w_lc (f_l(x) - f_l(y))_c^2, where f_l are channel-unit-normalised features of the images
mapped to [-1, 1] and passed through a fixed per-channel shift/scale, and w_l >= 0 are the learned
1x1 'lin' weights. Nothing is downloaded: `load_lpips_params` reads torchvision's
`alexnet-owt-7be5be79.pth` and LPIPS' `weights/v0.1/alex.pth` from paths the user gives.
"""

from collections.abc import Callable, Mapping
import os
from typing import Any

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from dfrf_jax.model import torch_import
from dfrf_jax.model.torch_import import CheckpointError

PathLike = str | os.PathLike[str]
Params = dict[str, Any]
LpipsFn = Callable[[jax.Array, jax.Array], jax.Array]

# LPIPS' ScalingLayer: inputs in [-1, 1] become (x - shift) / scale, per RGB channel.
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
# Guards the channel norm of all-zero (dead ReLU) feature vectors, as LPIPS does.
_NORM_EPS = 1e-10
# torchvision AlexNet `features`: (index in the Sequential, output channels, kernel, stride,
# padding); a 3x3 / 2 max-pool follows convs 0 and 1.
_CONVS = ((0, 64, 11, 4, 2), (3, 192, 5, 1, 2), (6, 384, 3, 1, 1), (8, 256, 3, 1, 1),
          (10, 256, 3, 1, 1))
# torchvision's classifier head, present in its file and unused by LPIPS.
_CLASSIFIER_KEYS = frozenset(f'classifier.{i}.{p}' for i in (1, 4, 6) for p in ('weight', 'bias'))
# Smallest image side for which the last feature map is non-empty.
MIN_SIZE = 31


class AlexNetFeatures(nn.Module):
  """The ReLU outputs of AlexNet's 5 convolutions (torchvision layout)."""

  @nn.compact
  def __call__(self, x: jax.Array) -> list[jax.Array]:
    """[B, H, W, 3] -> 5 maps [B, h_l, w_l, C_l], C = 64, 192, 384, 256, 256."""
    outputs = []
    for i, (_, channels, kernel, stride, pad) in enumerate(_CONVS):
      if i in (1, 2):
        x = nn.max_pool(x, (3, 3), strides=(2, 2), padding='VALID')
      x = nn.relu(nn.Conv(channels, (kernel, kernel), strides=(stride, stride),
                          padding=((pad, pad), (pad, pad)), name=f'conv_{i}')(x))
      outputs.append(x)
    return outputs


class LPIPS(nn.Module):
  """Learned perceptual distance between image pairs (lower is more similar)."""

  @nn.compact
  def __call__(self, img: jax.Array, ref: jax.Array) -> jax.Array:
    """Distance of each pair.

    Args:
      img: [B, H, W, 3] float in [0, 1], H, W >= MIN_SIZE.
      ref: [B, H, W, 3] float in [0, 1].

    Returns:
      [B] distances, >= 0; 0 for identical images.
    """
    chex.assert_rank(img, 4)
    chex.assert_equal_shape((img, ref))
    chex.assert_axis_dimension(img, 3, 3)
    if min(img.shape[1:3]) < MIN_SIZE:
      raise ValueError(f'LPIPS needs images of at least {MIN_SIZE}x{MIN_SIZE} pixels, got '
                       f'{img.shape[1]}x{img.shape[2]}')
    batch = img.shape[0]
    shift, scale = jnp.asarray(_SHIFT), jnp.asarray(_SCALE)
    both = jnp.concatenate([img, ref], axis=0)
    both = ((2.0 * both - 1.0) - shift) / scale
    total = jnp.zeros(batch)
    for i, feature in enumerate(AlexNetFeatures(name='features')(both)):
      unit = feature / (jnp.sqrt(jnp.sum(feature**2, axis=-1, keepdims=True)) + _NORM_EPS)
      diff = (unit[:batch] - unit[batch:])**2
      # LPIPS keeps the lin weights non-negative; the random init does too, so that an untrained
      # metric is still a (weighted squared) distance.
      weighted = nn.Conv(1, (1, 1), use_bias=False, kernel_init=nn.initializers.uniform(1.0),
                         name=f'lin_{i}')(diff)
      total = total + jnp.mean(weighted, axis=(1, 2, 3))
    return total


def lpips_params_from_torch(alexnet: Mapping[str, Any], lin: Mapping[str, Any]) -> Params:
  """Maps torchvision AlexNet and LPIPS lin state dicts onto `LPIPS` params.

  Args:
    alexnet: torchvision's AlexNet state dict: `features.{0,3,6,8,10}.{weight,bias}` (Conv2d,
      [out, in, kh, kw]) and the unused `classifier.{1,4,6}.*`.
    lin: LPIPS' state dict: `lin{0..4}.model.1.weight`, [1, C, 1, 1].

  Returns:
    {'features': {'conv_i': {'kernel': [kh, kw, in, out], 'bias': [out]}},
     'lin_i': {'kernel': [1, 1, C, 1]}} as numpy float32.

  Raises:
    CheckpointError: naming the key, for a missing, unexpected or wrongly shaped entry.
  """
  unexpected = sorted(set(alexnet) - _CLASSIFIER_KEYS
                      - {f'features.{j}.{p}' for j, *_ in _CONVS for p in ('weight', 'bias')})
  if unexpected:
    raise CheckpointError(f'alexnet state dict: unexpected keys {unexpected}')
  unexpected = sorted(set(lin) - {f'lin{i}.model.1.weight' for i in range(len(_CONVS))})
  if unexpected:
    raise CheckpointError(f'lpips lin state dict: unexpected keys {unexpected}')
  params: Params = {'features': {}}
  in_channels = 3
  for i, (j, channels, kernel, _, _) in enumerate(_CONVS):
    weight = _take(alexnet, 'alexnet state dict', f'features.{j}.weight',
                   (channels, in_channels, kernel, kernel))
    bias = _take(alexnet, 'alexnet state dict', f'features.{j}.bias', (channels,))
    params['features'][f'conv_{i}'] = {'kernel': np.ascontiguousarray(weight.transpose(2, 3, 1, 0)),
                                       'bias': bias}
    lin_weight = _take(lin, 'lpips lin state dict', f'lin{i}.model.1.weight', (1, channels, 1, 1))
    params[f'lin_{i}'] = {'kernel': np.ascontiguousarray(lin_weight.transpose(2, 3, 1, 0))}
    in_channels = channels
  return params


def _take(state: Mapping[str, Any], name: str, key: str, shape: tuple[int, ...]) -> np.ndarray:
  if key not in state:
    raise CheckpointError(f'{name}: missing key {key!r}')
  value = state[key]
  if not isinstance(value, np.ndarray) or value.shape != shape:
    raise CheckpointError(f'{name}[{key!r}]: expected shape {shape}, got '
                          f'{getattr(value, "shape", type(value).__name__)}')
  return value.astype(np.float32)


def load_lpips_params(alexnet_path: PathLike, lin_path: PathLike) -> Params:
  """Reads the two weight files (no download) and maps them with `lpips_params_from_torch`.

  Args:
    alexnet_path: torchvision's AlexNet weights, e.g. `alexnet-owt-7be5be79.pth`.
    lin_path: LPIPS' v0.1 AlexNet lin weights, `alex.pth`.

  Raises:
    CheckpointError: naming the file, if it cannot be read or does not hold the expected entries.
  """
  alexnet = torch_import.read_torch_checkpoint(alexnet_path)
  lin = torch_import.read_torch_checkpoint(lin_path)
  try:
    return lpips_params_from_torch(alexnet, lin)
  except CheckpointError as e:
    raise CheckpointError(f'{os.fspath(alexnet_path)} / {os.fspath(lin_path)}: {e}') from e


def make_lpips_fn(params: Params) -> LpipsFn:
  """A jitted distance of one image pair: ([H, W, 3], [H, W, 3]) in [0, 1] -> scalar."""
  model = LPIPS()

  @jax.jit
  def distance(img: jax.Array, ref: jax.Array) -> jax.Array:
    return model.apply({'params': params}, img[None], ref[None])[0]

  return distance


def lpips_fn_from_paths(alexnet_path: PathLike | None, lin_path: PathLike | None) -> LpipsFn | None:
  """`make_lpips_fn` of the weights at the given paths, or None when neither path is set.

  Raises:
    ValueError: if only one of the two paths is set.
    CheckpointError: if the files cannot be read or mapped.
  """
  if not alexnet_path and not lin_path:
    return None
  if not alexnet_path or not lin_path:
    raise ValueError('LPIPS needs both weight files: the torchvision AlexNet weights '
                     f'(got {alexnet_path!r}) and the LPIPS v0.1 alex.pth lin weights '
                     f'(got {lin_path!r})')
  return make_lpips_fn(load_lpips_params(alexnet_path, lin_path))
