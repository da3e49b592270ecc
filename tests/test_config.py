"""`config.validate` range checks and `config.check_field` suggestions."""

import pytest

from dfrf_jax import config as config_lib


def test_the_default_and_shipped_configs_are_valid():
  from dfrf_jax.api import load_config
  for name in ('test', 'demo', 'base', 'finetune'):
    config_lib.validate(load_config(name))


@pytest.mark.parametrize('section, field, value, expected', [
    ('data', 'N_rand', 0, 'config.data.N_rand = 0: expected an integer >= 1'),
    ('render', 'N_samples', 1, 'config.render.N_samples = 1: expected an integer >= 2'),
    ('render', 'N_importance', -1, 'config.render.N_importance = -1: expected an integer >= 0'),
    ('train', 'N_iters', 0, 'config.train.N_iters = 0: expected an integer >= 1'),
    ('train', 'lrate', float('nan'), 'config.train.lrate = nan: expected a finite number > 0'),
    ('train', 'lrate', -1e-3, 'config.train.lrate = -0.001: expected a finite number > 0'),
    ('train', 'i_weights', 0, 'config.train.i_weights = 0: expected an integer >= 1'),
    ('model', 'netwidth_fine', 0, 'config.model.netwidth_fine = 0: expected an integer >= 1'),
    ('render', 'far', 0.3, 'config.render.near = 0.3, config.render.far = 0.3: expected near < far'),
    ('data', 'lip_sample_rate', 0.99, 'config.data.lip_sample_rate = 0.99: expected a share >= 0 and '
     'at most config.data.sample_rate = 0.95 (mouth rays are part of the face rays)'),
    ('data', 'lip_sample_rate', -0.1, 'config.data.lip_sample_rate = -0.1: expected a share >= 0 and '
     'at most config.data.sample_rate = 0.95 (mouth rays are part of the face rays)'),
    ('data', 'extra_outside_rate', -0.1,
     'config.data.extra_outside_rate = -0.1: expected a finite number >= 0'),
])
def test_a_value_out_of_range_is_named_with_its_range(section, field, value, expected):
  config = config_lib.default_config()
  config[section][field] = value
  with pytest.raises(config_lib.ConfigError) as raised:
    config_lib.validate(config)
  assert str(raised.value) == expected


def test_coarse_anchors_do_not_combine_with_training_selection():
  config = config_lib.default_config()
  a = config.render.accel
  a.coarse_aggregation_stride, a.train_interpolate_features, a.train_selection = 2, True, True
  with pytest.raises(config_lib.ConfigError, match='coarse_aggregation_stride = 2 with '
                     'train_interpolate_features: does not work with'):
    config_lib.validate(config)


@pytest.mark.parametrize('path, expected', [
    ('train.N_iterz', 'config.train.N_iterz: no such field; did you mean config.train.N_iters?'),
    ('rendr', 'config.rendr: no such field; did you mean config.render?'),
    ('train.N_iters.x', 'config.train.N_iters.x: no such field; config.train.N_iters is a value'),
])
def test_an_unknown_field_gets_a_suggestion(path, expected):
  with pytest.raises(config_lib.ConfigError, match=expected.replace('.', r'\.').replace('?', r'\?')):
    config_lib.check_field(config_lib.default_config(), path)


def test_a_known_field_passes():
  config_lib.check_field(config_lib.default_config(), 'render.accel.dilation')


def test_set_field_reads_literals_and_keeps_strings():
  config = config_lib.default_config()
  config_lib.set_field(config, 'train.lrate=5e-4')
  config_lib.set_field(config, 'model.skips=(2,)')
  config_lib.set_field(config, 'render.sampler=dense')
  assert config.train.lrate == 5e-4 and config.model.skips == (2,)
  assert config.render.sampler == 'dense'
  with pytest.raises(config_lib.ConfigError, match='expected section.field=value'):
    config_lib.set_field(config, 'train.lrate')
  with pytest.raises(config_lib.ConfigError, match='did you mean'):
    config_lib.set_field(config, 'train.lrat=1.0')
