"""scripts/benchmark_render.py end to end (--quick): its JSON report's fields and its --help."""

import json

from tests.scripts.conftest import run_script

SCRIPT = 'benchmark_render.py'


def test_quick_run_writes_every_field(tmp_path):
  out = tmp_path / 'bench.json'
  proc = run_script(SCRIPT, '--quick', '--sizes=16', '--repeats=1', f'--out={out}')
  assert proc.returncode == 0, proc.stderr
  report = json.loads(out.read_text())
  assert report['quick'] is True and report['repeats'] == 1
  assert report['spec_flops_per_sample'] == 3.47e6
  matmul = report['matmul']
  assert matmul['size'] == 2048 and matmul['flops'] == 2 * 2048 ** 3
  assert matmul['flops_per_s'] > 0
  config = report['config']
  samples_per_ray = 2 * config['N_samples'] + config['N_importance']
  [entry] = report['results']
  assert entry['size'] == 16
  train, render = entry['train'], entry['render']
  for r in (train, render):
    assert len(r['times_s']) == 1 and r['median_s'] == r['times_s'][0] > 0
    assert r['xla_flops'] > 0
    assert r['xla_flops_per_sample'] == r['xla_flops'] / r['samples']
    assert r['floor_s'] == r['xla_flops'] / matmul['flops_per_s']
    assert r['x_floor'] == r['median_s'] / r['floor_s']
  assert train['samples'] == config['N_rand'] * samples_per_ray
  assert train['spec_flops'] == 3 * train['samples'] * 3.47e6
  assert train['authors_s'] == 30.0
  assert train['speedup_vs_authors'] == 30.0 / train['median_s']
  # 256 pixels fit in one chunk of 1024 rays (padded).
  assert render['chunks'] == 1 and render['samples'] == config['chunk'] * samples_per_ray
  assert render['authors_s'] is None and render['speedup_vs_authors'] is None
  for line in ('size', 'train', 'render', '3.47 MFLOP', '30 s', '50 s'):
    assert line in proc.stdout


def test_help_and_bad_sizes():
  proc = run_script(SCRIPT, '--help')
  assert proc.returncode == 0
  for flag in ('--sizes', '--repeats', '--out', '--quick'):
    assert flag in proc.stdout
  proc = run_script(SCRIPT, '--sizes=64,abc')
  assert proc.returncode == 2 and "--sizes='64,abc'" in proc.stderr
