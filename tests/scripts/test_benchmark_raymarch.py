"""scripts/benchmark_raymarch.py end to end at the test config: the JSON record of each size, the
printed table, --help and conflicting flags."""

import json

from tests.scripts.conftest import run_script

SCRIPT = 'benchmark_raymarch.py'


def test_tiny_run_writes_one_record_per_size(tmp_path):
  out = tmp_path / 'bench.json'
  proc = run_script(SCRIPT, '--config=configs/test.py', '--train_steps=3', '--sizes=16,24',
                    '--grid_resolution=8', f'--out={out}')
  assert proc.returncode == 0, proc.stderr[-3000:]
  report = json.loads(out.read_text())
  setup = report['setup']
  assert setup['train_steps'] == 3 and setup['accel']['grid_resolution'] == 8
  assert 0.0 <= setup['occupied_cell_share'] <= 1.0
  assert [r['size'] for r in report['records']] == [16, 24]
  for r in report['records']:
    assert r['dense_ms_per_frame'] > 0 and r['accel_ms_per_frame'] > 0
    assert r['render_speedup'] == r['dense_ms_per_frame'] / r['accel_ms_per_frame']
    assert r['psnr_delta_db'] == r['accel_psnr_db'] - r['dense_psnr_db']
    spr = r['samples_per_ray']
    # The test config: 2 x N_samples + N_importance depths per ray on the dense path.
    assert spr['dense'] == 2 * 8 + 8
    assert 0.0 <= spr['accel'] <= spr['accel_budget']
    # Aggregations: the coarse pass's; the fine pass's samples all interpolate F~ (the default).
    assert spr['accel'] == spr['accel_coarse']
    assert spr['accel_fine_interpolated'] == spr['accel_fine']
    assert 0.0 <= r['rays_skipped_share'] <= 1.0 and r['overflow'] == 0
    assert r['max_abs_diff'] >= 0.0
    assert r['train_step_speedup'] == r['dense_train_step_ms'] / r['accel_train_step_ms']
    assert set(r['train_psnr_db']) == {'dense', 'accelerated'}
    # The accelerated training run's own counts: no selection, so nothing on differentiated samples.
    train_samples = r['accel_train_samples']
    assert set(train_samples) == {'samples_per_ray', 'aggregations_per_ray', 'overflow_steps'}
    assert 0.0 < train_samples['samples_per_ray'] <= 2 * 8 + 8
    # Training does not interpolate F~ by default: every evaluated sample was aggregated.
    assert train_samples['aggregations_per_ray'] == train_samples['samples_per_ray']
    assert train_samples['overflow_steps'] in (0.0, 1.0, 2.0, 3.0)
  assert 'train step: dense' in proc.stdout and 'speedup' in proc.stdout
  assert report['records'][0]['accel_first_step_s'] > 0.0


def test_help_and_conflicting_flags():
  proc = run_script(SCRIPT, '--help')
  assert proc.returncode == 0
  for flag in ('--params', '--init_from', '--train_steps', '--sizes', '--out'):
    assert flag in proc.stdout
  proc = run_script(SCRIPT, '--params=a', '--init_from=b')
  assert proc.returncode == 2 and '--init_from' in proc.stderr
