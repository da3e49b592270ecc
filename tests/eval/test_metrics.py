"""Tests for dfrf_jax.eval.metrics: PSNR against closed forms, SSIM against a float64 NumPy SSIM."""

import numpy as np
import pytest
from scipy import signal

from dfrf_jax.eval import metrics


def _ssim_reference(img: np.ndarray, ref: np.ndarray) -> float:
  """SSIM (Wang et al. 2004) in float64: 11x11 gaussian window, sigma 1.5, valid positions only."""
  x = np.arange(11) - 5.0
  g = np.exp(-x**2 / (2 * 1.5**2))
  window = np.outer(g, g) / np.sum(g)**2
  c1, c2 = 0.01**2, 0.03**2
  values = []
  for c in range(img.shape[-1]):
    a, b = img[..., c].astype(np.float64), ref[..., c].astype(np.float64)

    def blur(v):
      return signal.correlate2d(v, window, mode='valid')

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    values.append((2 * mu_a * mu_b + c1) * (2 * cov + c2)
                  / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)))
  return float(np.mean(values))


@pytest.fixture
def pair() -> tuple[np.ndarray, np.ndarray]:
  rng = np.random.default_rng(0)
  ref = rng.uniform(0.2, 0.8, (24, 20, 3)).astype(np.float32)
  img = np.clip(ref + rng.normal(0, 0.05, ref.shape), 0, 1).astype(np.float32)
  return img, ref


def test_psnr_closed_form():
  ref = np.full((16, 16, 3), 0.5, np.float32)
  assert float(metrics.psnr(ref + 0.1, ref)) == pytest.approx(20.0, abs=1e-4)
  assert float(metrics.psnr(ref - 0.01, ref)) == pytest.approx(40.0, abs=1e-3)


def test_psnr_against_mse(pair):
  img, ref = pair
  mse = np.mean((img.astype(np.float64) - ref)**2)
  assert float(metrics.psnr(img, ref)) == pytest.approx(-10 * np.log10(mse), abs=1e-3)


def test_ssim_identical_is_one(pair):
  _, ref = pair
  assert float(metrics.ssim(ref, ref)) == pytest.approx(1.0, abs=1e-6)


def test_ssim_against_numpy_reference(pair):
  img, ref = pair
  expected = _ssim_reference(img, ref)
  assert expected < 0.99  # the pair is far enough apart for the comparison to mean something
  assert float(metrics.ssim(img, ref)) == pytest.approx(expected, abs=1e-4)


def test_batched_variants(pair):
  img, ref = pair
  imgs = np.stack([img, ref, 1 - img])
  refs = np.stack([ref, ref, ref])
  psnrs = np.asarray(metrics.psnr_batch(imgs, refs))
  ssims = np.asarray(metrics.ssim_batch(imgs, refs))
  assert psnrs.shape == ssims.shape == (3,)
  for i in range(3):
    assert psnrs[i] == pytest.approx(float(metrics.psnr(imgs[i], refs[i])), abs=1e-4)
    assert ssims[i] == pytest.approx(float(metrics.ssim(imgs[i], refs[i])), abs=1e-5)
  assert np.isinf(psnrs[1]) and ssims[1] == pytest.approx(1.0, abs=1e-6)


def test_shape_mismatch_is_refused(pair):
  img, _ = pair
  with pytest.raises(AssertionError):
    metrics.psnr(img, img[:-1])
  with pytest.raises(AssertionError):
    metrics.ssim(img[..., 0], img[..., 0])
