"""scripts/lipsync_curve.py: a run scored at two steps, resumed in between, with the audio swap."""

import json
import math

from tests.scripts.conftest import run_script
from tests.train.conftest import DATASET


def test_two_steps_with_the_audio_swap(tmp_path):
  out, workdir = tmp_path / 'curve.json', tmp_path / 'run'
  done = run_script('lipsync_curve.py', '--config=configs/test.py', f'--data_dir={DATASET}',
                    f'--workdir={workdir}', '--steps=4,2', '--val_frames=4', '--audio_swap',
                    "--set=render.sampler='dense'", '--set=data.lip_sample_rate=0.25',
                    '--set=train.i_print=1', f'--out={out}')
  assert done.returncode == 0, done.stderr[-3000:]
  result = json.loads(out.read_text())
  assert result['overrides'][:2] == ["render.sampler='dense'", 'data.lip_sample_rate=0.25']
  assert [r['step'] for r in result['records']] == [2, 4]
  for record in result['records']:
    assert 5.0 < record['psnr'] < 40.0
    assert -1.0 <= record['opening_r'] <= 1.0 and record['spread_ratio'] >= 0.0
    assert set(record['audio_swap']) == {'slope_ratio', 'driving_r', 'own_r'}
    assert all(math.isfinite(v) for v in record['audio_swap'].values())
  # One run, resumed: its metrics log holds each training step once.
  steps = [json.loads(line)['step'] for line in (workdir / 'metrics.jsonl').read_text().splitlines()
           if 'loss' in line]
  assert steps == [1, 2, 3, 4]
  assert 'opening_r' in done.stdout and 'swap_slope_ratio' in done.stdout


def test_an_unknown_field_is_named(tmp_path):
  done = run_script('lipsync_curve.py', '--config=configs/test.py', f'--data_dir={DATASET}',
                    f'--workdir={tmp_path}', '--steps=2', '--set=data.lip_rate=0.2')
  assert done.returncode != 0 and 'data.lip_rate: no such field' in done.stderr
