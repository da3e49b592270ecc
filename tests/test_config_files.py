"""Which file a config name or path resolves to (the wheel's case: tests/test_wheel.py)."""

import os

from dfrf_jax import config_files


def test_names_and_configs_paths_fall_back_to_the_shipped_configs(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  shipped = config_files.shipped_dir()
  assert config_files.shipped_names() == ['base', 'demo', 'finetune', 'test']
  assert config_files.resolve('test') == os.path.join(shipped, 'test.py')
  assert config_files.resolve('configs/demo.py') == os.path.join(shipped, 'demo.py')
  assert config_files.resolve('./configs/base.py') == os.path.join(shipped, 'base.py')
  (tmp_path / 'finetune').mkdir()  # A folder of a config's name is no config file.
  assert config_files.resolve('finetune') == os.path.join(shipped, 'finetune.py')


def test_a_file_is_used_as_given_and_anything_else_is_left_to_the_caller(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  (tmp_path / 'configs').mkdir()
  (tmp_path / 'configs' / 'test.py').write_text('')
  (tmp_path / 'demo').write_text('')
  assert config_files.resolve('configs/test.py') == 'configs/test.py'
  assert config_files.resolve('demo') == 'demo'
  for unknown in ('nope', 'configs/nope.py', 'other/test.py', 'test.py', 'configs/test'):
    assert config_files.resolve(unknown) == unknown
  assert config_files.expected().endswith("or a shipped config's name (base, demo, finetune, test)")
