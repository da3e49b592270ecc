"""scripts/dead_field_odds.py: a seed trained from scratch, its verdict, its table row and JSON."""

import json

from tests.scripts.conftest import run_script
from tests.train.conftest import DATASET


def test_one_seed_with_a_val_render(tmp_path):
  out = tmp_path / 'odds.json'
  done = run_script('dead_field_odds.py', '--config=configs/test.py', f'--data_dir={DATASET}',
                    '--seed_list=3', '--steps=24', '--dead_at=20', '--val_frames=1',
                    '--set=train.density_revive_below=0.0', '--set=train.lrate=0.05', f'--out={out}',
                    f'--metrics_dir={tmp_path / "metrics"}')
  assert done.returncode == 0, done.stderr[-3000:]
  result = json.loads(out.read_text())
  run, = result['runs']
  assert run['seed'] == 3 and run['revived_steps'] == run['gradient_revived_steps'] == [0, 0]  # off
  assert result['summary']['dead_at'] == 20
  assert result['summary']['overrides'] == ['train.density_revive_below=0.0', 'train.lrate=0.05']
  # At 10x configs/test.py's lrate, seed 3's coarse field dies on the fixture without revival.
  assert 'coarse' in run['dead'] and run['live'][0] == 0.0
  assert run['coarse'][1] - run['coarse'][0] < 1.0
  assert 10.0 < run['val_psnr'] < 40.0
  assert '1 of 1 runs with a dead field' in done.stdout
  rows = [json.loads(line) for line in open(tmp_path / 'metrics' / 'seed_3.jsonl')]
  assert [row['live0'] for row in rows if 'live0' in row][-1] == 0.0 and len(rows) >= 24
