"""Tests of the `dfrf-make-synthetic` command line."""

import json
import os

from absl import app
from absl import flags
from absl.testing import flagsaver
import pytest

from dfrf_jax.data import synthetic_cli


def _run(*args, **values):
  """Parses the flags as the command line would and calls main with what is left."""
  argv = ['dfrf-make-synthetic', *args] + [f'--{k}={v}' for k, v in values.items()]
  with flagsaver.flagsaver():
    synthetic_cli.main(flags.FLAGS(argv))


def test_cli_writes_the_dataset_and_reports_it(tmp_path, capsys):
  _run(out=tmp_path, image_size=16, num_frames=6, num_base_ids=2, finetune_name='person', seed=3)
  assert sorted(os.listdir(tmp_path)) == ['base', 'person']
  assert sorted(os.listdir(tmp_path / 'base')) == ['0', '1']
  with open(tmp_path / 'person' / '0' / 'transforms_val.json') as f:
    assert [frame['img_id'] for frame in json.load(f)['frames']] == [3, 4, 5]
  with open(tmp_path / 'base' / '1' / 'synth_meta.json') as f:
    meta = json.load(f)
  assert (meta['seed'], meta['role'], meta['index'], meta['image_size']) == (3, 'base', 1, 16)
  printed = capsys.readouterr().out
  assert '16x16 px, 6 frames' in printed
  assert str(tmp_path / 'person' / '0') in printed and '3 train + 3 val' in printed


def test_cli_refuses_to_mix_into_an_existing_dataset(tmp_path):
  _run(out=tmp_path, image_size=16, num_frames=2, num_base_ids=1)
  with pytest.raises(FileExistsError, match='overwrite'):
    _run(out=tmp_path, image_size=16, num_frames=2, num_base_ids=1)
  _run(out=tmp_path, image_size=16, num_frames=2, num_base_ids=1, overwrite=True)
  assert sorted(os.listdir(tmp_path)) == ['base', 'finetune']


def test_cli_rejects_stray_arguments(tmp_path):
  with pytest.raises(app.UsageError, match='stray'):
    _run('stray', out=tmp_path)
