"""Tests for dfrf_jax.eval.lpips: against a float64 NumPy LPIPS on torch-layout weights, behaviour
with random weights, and the mapping of torchvision/LPIPS state dicts."""

import jax
import numpy as np
import pytest

from dfrf_jax.eval import lpips
from dfrf_jax.model import torch_import

# torchvision AlexNet features: (Sequential index, in, out, kernel, stride, padding).
_LAYERS = ((0, 3, 64, 11, 4, 2), (3, 64, 192, 5, 1, 2), (6, 192, 384, 3, 1, 1),
           (8, 384, 256, 3, 1, 1), (10, 256, 256, 3, 1, 1))


def _torch_state_dicts(seed: int = 0) -> tuple[dict, dict]:
  """Random weights under torchvision's and LPIPS' key names and [out, in, kh, kw] layout."""
  rng = np.random.default_rng(seed)
  alexnet, lin = {}, {}
  for j, n_in, n_out, k, _, _ in _LAYERS:
    alexnet[f'features.{j}.weight'] = rng.normal(
        0, np.sqrt(2 / (n_in * k * k)), (n_out, n_in, k, k)).astype(np.float32)
    alexnet[f'features.{j}.bias'] = rng.normal(0, 0.05, n_out).astype(np.float32)
  for i, (n_in, n_out) in zip((1, 4, 6), ((9216, 64), (64, 64), (64, 10))):
    alexnet[f'classifier.{i}.weight'] = np.zeros((n_out, n_in), np.float32)
    alexnet[f'classifier.{i}.bias'] = np.zeros(n_out, np.float32)
  for i, (_, _, n_out, _, _, _) in enumerate(_LAYERS):
    lin[f'lin{i}.model.1.weight'] = rng.uniform(0, 1, (1, n_out, 1, 1)).astype(np.float32)
  return alexnet, lin


def _conv_reference(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int,
                    pad: int) -> np.ndarray:
  """torch.nn.functional.conv2d semantics in float64: x [C, H, W], w [O, C, kh, kw] -> [O, h, w]."""
  x = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
  k = w.shape[-1]
  windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))[:, ::stride, ::stride]
  return np.einsum('chwij,ocij->ohw', windows, w) + b[:, None, None]


def _maxpool_reference(x: np.ndarray) -> np.ndarray:
  windows = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(1, 2))
  return windows[:, ::2, ::2].max(axis=(-1, -2))


def _lpips_reference(img: np.ndarray, ref: np.ndarray, alexnet: dict, lin: dict) -> float:
  """LPIPS v0.1 (AlexNet) of one [H, W, 3] pair in [0, 1], written from the LPIPS paper and code."""
  shift = np.array([-0.030, -0.088, -0.188])[:, None, None]
  scale = np.array([0.458, 0.448, 0.450])[:, None, None]

  def features(image):
    h = ((2 * image.transpose(2, 0, 1).astype(np.float64) - 1) - shift) / scale
    out = []
    for i, (j, _, _, _, stride, pad) in enumerate(_LAYERS):
      if i in (1, 2):
        h = _maxpool_reference(h)
      h = np.maximum(_conv_reference(h, alexnet[f'features.{j}.weight'].astype(np.float64),
                                     alexnet[f'features.{j}.bias'], stride, pad), 0)
      out.append(h / (np.sqrt(np.sum(h**2, axis=0, keepdims=True)) + 1e-10))
    return out

  total = 0.0
  for i, (a, b) in enumerate(zip(features(img), features(ref))):
    w = lin[f'lin{i}.model.1.weight'][0, :, 0, 0].astype(np.float64)
    total += np.mean(np.einsum('c,chw->hw', w, (a - b)**2))
  return total


@pytest.fixture(scope='module')
def weights() -> tuple[dict, dict, dict]:
  alexnet, lin = _torch_state_dicts()
  return alexnet, lin, lpips.lpips_params_from_torch(alexnet, lin)


@pytest.fixture(scope='module')
def images() -> tuple[np.ndarray, np.ndarray]:
  rng = np.random.default_rng(1)
  y, x = np.mgrid[0:40, 0:36] / 40.0
  ref = np.stack([0.5 + 0.4 * np.sin(6 * x), 0.5 + 0.4 * np.cos(5 * y), x * y], -1)
  img = np.clip(ref + rng.normal(0, 0.1, ref.shape), 0, 1)
  return img.astype(np.float32), ref.astype(np.float32)


def test_mapping_transposes(weights):
  alexnet, lin, params = weights
  for i, (j, n_in, n_out, k, _, _) in enumerate(_LAYERS):
    kernel = params['features'][f'conv_{i}']['kernel']
    assert kernel.shape == (k, k, n_in, n_out)
    np.testing.assert_array_equal(kernel.transpose(3, 2, 0, 1), alexnet[f'features.{j}.weight'])
    np.testing.assert_array_equal(params['features'][f'conv_{i}']['bias'],
                                  alexnet[f'features.{j}.bias'])
    assert params[f'lin_{i}']['kernel'].shape == (1, 1, n_out, 1)
    np.testing.assert_array_equal(params[f'lin_{i}']['kernel'][0, 0, :, 0],
                                  lin[f'lin{i}.model.1.weight'][0, :, 0, 0])


def test_mapping_matches_the_module_tree(weights, images):
  _, _, params = weights
  img, ref = images
  expected = jax.eval_shape(lpips.LPIPS().init, jax.random.key(0), img[None], ref[None])['params']
  torch_import.check_params(params, expected)


def test_against_numpy_reference(weights, images):
  alexnet, lin, params = weights
  img, ref = images
  expected = _lpips_reference(img, ref, alexnet, lin)
  assert expected > 0.01
  assert float(lpips.make_lpips_fn(params)(img, ref)) == pytest.approx(expected, rel=1e-3)


def test_random_weights_behaviour():
  # Random weights (seed 3), drawn in numpy: jitting LPIPS.init costs seconds of compilation.
  params = lpips.lpips_params_from_torch(*_torch_state_dicts(seed=3))
  rng = np.random.default_rng(2)
  ref = rng.uniform(0, 1, (4, 32, 32, 3)).astype(np.float32)
  model = lpips.LPIPS()
  apply = jax.jit(lambda img, ref: model.apply({'params': params}, img, ref))
  same = np.asarray(apply(ref, ref))
  assert same.shape == (4,)
  np.testing.assert_allclose(same, 0.0, atol=1e-9)
  noise = rng.normal(0, 1, ref.shape).astype(np.float32)
  distances = [np.asarray(apply(np.clip(ref + s * noise, 0, 1), ref))
               for s in (0.02, 0.1, 0.3)]
  assert all(np.all(d > 0) for d in distances)
  means = [float(d.mean()) for d in distances]
  assert means[0] < means[1] < means[2]
  # Symmetric in its two arguments.
  swapped = np.asarray(apply(ref, np.clip(ref + 0.1 * noise, 0, 1)))
  np.testing.assert_allclose(swapped, distances[1], rtol=1e-5)


def test_too_small_images():
  small = np.zeros((1, 30, 40, 3), np.float32)
  with pytest.raises(ValueError, match='at least 31x31'):
    lpips.LPIPS().init(jax.random.key(0), small, small)


def test_mapping_errors(weights):
  alexnet, lin, _ = weights
  missing = {k: v for k, v in alexnet.items() if k != 'features.6.bias'}
  with pytest.raises(torch_import.CheckpointError, match="missing key 'features.6.bias'"):
    lpips.lpips_params_from_torch(missing, lin)
  with pytest.raises(torch_import.CheckpointError, match=r"unexpected keys \['features.12.weight'"):
    lpips.lpips_params_from_torch({**alexnet, 'features.12.weight': np.zeros(1)}, lin)
  wrong = {**lin, 'lin2.model.1.weight': np.zeros((1, 256, 1, 1), np.float32)}
  with pytest.raises(torch_import.CheckpointError, match=r"lin2.model.1.weight'\]: expected shape"):
    lpips.lpips_params_from_torch(alexnet, wrong)


def test_paths(tmp_path):
  assert lpips.lpips_fn_from_paths('', '') is None
  assert lpips.lpips_fn_from_paths(None, None) is None
  with pytest.raises(ValueError, match='needs both weight files'):
    lpips.lpips_fn_from_paths(tmp_path / 'alexnet.pth', '')
  with pytest.raises(torch_import.CheckpointError, match='not a file'):
    lpips.lpips_fn_from_paths(tmp_path / 'alexnet.pth', tmp_path / 'alex.pth')
