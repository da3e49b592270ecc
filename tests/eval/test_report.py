"""Tests for dfrf_jax.eval.report: per-frame metrics, background-only baseline, table, JSON."""

import json

import numpy as np
import pytest

from dfrf_jax.eval import metrics
from dfrf_jax.eval import report


@pytest.fixture(scope='module')
def frames() -> tuple[np.ndarray, np.ndarray]:
  rng = np.random.default_rng(0)
  gt = rng.uniform(0.2, 0.8, (3, 16, 16, 3)).astype(np.float32)
  pred = gt + np.array([0.1, 0.01, 0.0], np.float32)[:, None, None, None]
  return pred, gt


def _mean_abs_lpips(img, ref):
  """A stand-in distance: mean absolute difference."""
  return np.mean(np.abs(np.asarray(img) - np.asarray(ref)))


def test_evaluate_frames(frames):
  pred, gt = frames
  per_frame, summary = report.evaluate_frames(pred, gt)
  assert [row['frame'] for row in per_frame] == [0, 1, 2]
  assert per_frame[0]['psnr'] == pytest.approx(20.0, abs=1e-3)
  assert per_frame[1]['psnr'] == pytest.approx(40.0, abs=1e-2)
  assert per_frame[2]['psnr'] == np.inf and per_frame[2]['ssim'] == pytest.approx(1.0, abs=1e-6)
  for row, p, g in zip(per_frame, pred, gt):
    assert row['ssim'] == pytest.approx(float(metrics.ssim(p, g)), abs=1e-6)
    assert row['lpips'] is None
  assert summary == {'num_frames': 3, 'psnr': np.inf,
                     'ssim': pytest.approx(np.mean([r['ssim'] for r in per_frame])), 'lpips': None}


def test_evaluate_frames_with_lpips_and_uint8(frames):
  pred, gt = frames
  gt8 = np.round(gt[:2] * 255).astype(np.uint8)
  per_frame, summary = report.evaluate_frames(pred[:2], gt8, lpips_fn=_mean_abs_lpips)
  expected = [np.mean(np.abs(pred[i] - gt8[i] / np.float32(255))) for i in range(2)]
  np.testing.assert_allclose([r['lpips'] for r in per_frame], expected, rtol=1e-6)
  assert summary['lpips'] == pytest.approx(np.mean(expected), rel=1e-6)
  assert summary['psnr'] == pytest.approx(np.mean([r['psnr'] for r in per_frame]))


def test_baseline_metrics_per_frame_and_single_plate(frames):
  _, gt = frames
  plate = np.full((16, 16, 3), 0.5, np.float32)
  single = report.baseline_metrics(plate, gt)
  stacked = report.baseline_metrics(np.stack([plate] * 3), gt)
  assert single == stacked
  mse = np.mean((gt.astype(np.float64) - 0.5)**2, axis=(1, 2, 3))
  assert single['psnr'] == pytest.approx(np.mean(-10 * np.log10(mse)), abs=1e-3)
  assert single['num_frames'] == 3 and single['lpips'] is None


def test_evaluate_frames_errors(frames):
  pred, gt = frames
  with pytest.raises(ValueError, match='same shape'):
    report.evaluate_frames(pred[:2], gt)
  with pytest.raises(ValueError, match=r'gt: expected frames \[T, H, W, 3\]'):
    report.evaluate_frames(pred, gt[..., 0])
  with pytest.raises(ValueError, match='pred: expected uint8 or float'):
    report.evaluate_frames(pred.astype(np.int32), gt)


def test_metrics_table():
  rows = [{'name': 'model', 'psnr': 31.23456, 'ssim': 0.951, 'lpips': None},
          {'name': 'background only', 'psnr': 18.5, 'ssim': 0.8, 'lpips': None}]
  table = report.metrics_table(rows).splitlines()
  assert table[0].split() == ['name', 'psnr', 'ssim', 'lpips']
  assert table[2].split() == ['model', '31.2346', '0.9510', 'n/a']
  assert table[3] == 'background only  18.5000  0.8000    n/a'
  # Columns line up: every value ends where its header ends.
  assert table[0].index('psnr') + 4 == table[2].index('31.2346') + 7
  assert table[-1].startswith('n/a: not computed (lpips)') and 'weight files' in table[-1]


def test_metrics_table_all_computed():
  table = report.metrics_table([{'name': 'a', 'psnr': float('inf'), 'num_frames': 3}])
  assert table.splitlines() == ['name  psnr  num_frames', '----  ----  ----------',
                                'a      inf           3']


def test_write_metrics_json(tmp_path, frames):
  pred, gt = frames
  per_frame, summary = report.evaluate_frames(pred, gt)
  summary['extra'] = np.float32(0.5)
  path = tmp_path / 'out' / 'metrics.json'
  report.write_metrics_json(path, per_frame, summary)
  data = json.loads(path.read_text())
  assert data['psnr'] == 'inf' and data['lpips'] is None
  assert data['extra'] == 0.5
  assert [r['psnr'] for r in data['per_frame']][:2] == [per_frame[0]['psnr'], per_frame[1]['psnr']]
  assert data['per_frame'][2]['psnr'] == 'inf'
  with pytest.raises(ValueError, match='metrics.json: cannot write metrics as JSON'):
    report.write_metrics_json(tmp_path / 'metrics.json', [{'psnr': float('nan')}], {})
  with pytest.raises(ValueError, match='cannot write'):
    report.write_metrics_json(tmp_path / 'metrics.json', [], {'what': object()})
