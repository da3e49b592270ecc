"""Tests for dfrf_jax.model.torch_import: reading the authors' torch checkpoint, mapping it to Flax."""

import copy
import json
import pathlib
import pickle
import zipfile

import numpy as np
import pytest

from dfrf_jax.model import torch_import

_PARITY = pathlib.Path(__file__).parent.parent / 'fixtures' / 'parity'
_CKPT = _PARITY / '000060_head.tar'


@pytest.fixture(scope='module')
def ckpt() -> dict:
  return torch_import.read_torch_checkpoint(_CKPT)


@pytest.fixture(scope='module')
def converted(ckpt) -> tuple[dict, torch_import.ImportInfo]:
  return torch_import.torch_to_flax(ckpt)


def _expected_shapes(width: int, depth: int = 8) -> dict:
  """Our Flax param shapes, written out from §3 and §7.5 of the spec."""

  def dense(n_in: int, n_out: int) -> dict:
    return {'kernel': (n_in, n_out), 'bias': (n_out,)}

  def conv1d(n_in: int, n_out: int) -> dict:
    return {'kernel': (3, n_in, n_out), 'bias': (n_out,)}

  def nerf() -> dict:
    tree = {f'pts_{i}': dense(383 if i == 0 else 383 + width if i == 5 else width, width)
            for i in range(depth)}
    tree.update({f'views_{i}': dense(width + 27 if i == 0 else width // 2, width // 2)
                 for i in range(depth // 4 + 1)})
    tree['alpha'] = dense(width, 1)
    tree['rgb'] = dense(width // 2, 3)
    return tree

  layer_norm = {'scale': (128,), 'bias': (128,)}
  return {
      'audio_net': {'conv_0': conv1d(29, 32), 'conv_1': conv1d(32, 32), 'conv_2': conv1d(32, 64),
                    'conv_3': conv1d(64, 64), 'dense_0': dense(64, 64), 'dense_1': dense(64, 64)},
      'audio_att_net': {'conv_0': conv1d(32, 16), 'conv_1': conv1d(16, 8), 'conv_2': conv1d(8, 4),
                        'conv_3': conv1d(4, 2), 'conv_4': conv1d(2, 1), 'dense': dense(8, 8)},
      'feature_net': {'conv_0': {'kernel': (3, 3, 66, 64), 'bias': (64,)},
                      'conv_1': {'kernel': (3, 3, 64, 64), 'bias': (64,)},
                      'dense': dense(64, 128)},
      'warp': {'dense_0': dense(255, 128), 'dense_1': dense(128, 32), 'dense_2': dense(32, 2)},
      'slot_attention': {
          'slots_mu': (128,), 'slots_logsigma': (128,),
          'fc1': dense(130, 32), 'fc6': dense(32, 32), 'fc7': dense(225, 128),
          'norm_input': layer_norm, 'norm_slots': layer_norm, 'norm_pre_ff': layer_norm,
          'to_q': dense(128, 128), 'to_k': dense(128, 128), 'to_v': dense(128, 128),
          'gru_input': dense(128, 384), 'gru_hidden': dense(128, 384),
          'mlp_0': dense(128, 128), 'mlp_1': dense(128, 128)},
      'coarse': nerf(),
      'fine': nerf(),
  }


# ---- Hand-written pickle opcodes, to build torch-format archives without torch. ----


def _op(value) -> bytes:
  """Protocol-2 opcodes that push one plain python value (PROTO and STOP stripped)."""
  return pickle.dumps(value, protocol=2)[2:-1]


def _tensor_op(key: str, numel: int, offset: int, size: tuple, stride: tuple,
               storage: str = 'FloatStorage') -> bytes:
  """Opcodes of torch._utils._rebuild_tensor_v2 over the persistent storage `key`."""
  pid = b'(' + _op('storage') + f'ctorch\n{storage}\n'.encode() + _op(key) + _op('cpu') + _op(numel)
  return (b'ctorch._utils\n_rebuild_tensor_v2\n(' + pid + b'tQ' + _op(offset) + _op(size)
          + _op(stride) + _op(False) + b'ccollections\nOrderedDict\n)R' + b'tR')


def _dict_pickle(entries: dict[str, bytes]) -> bytes:
  """A protocol-2 pickle of a dict whose values are given as opcodes."""
  body = b''.join(_op(k) + v for k, v in entries.items())
  return b'\x80\x02}(' + body + b'u.'


def _write_archive(path: pathlib.Path, data_pkl: bytes, storages: dict[str, bytes],
                   byteorder: str | None = 'little') -> pathlib.Path:
  with zipfile.ZipFile(path, 'w') as zf:
    zf.writestr('archive/data.pkl', data_pkl)
    if byteorder is not None:
      zf.writestr('archive/byteorder', byteorder)
    for key, raw in storages.items():
      zf.writestr(f'archive/data/{key}', raw)
  return path


# ---- Reading. ----


def test_fixture_has_every_recorded_key_and_step(ckpt):
  recorded = json.loads((_PARITY / 'dfrf_parity.json').read_text())['checkpoint_keys']
  assert set(ckpt) == set(recorded)
  for name, keys in recorded.items():
    if isinstance(keys, list):
      assert sorted(ckpt[name]) == sorted(keys), name
  assert ckpt['global_step'] == 59
  assert type(ckpt['global_step']) is int


def test_fixture_shapes_follow_the_spec(ckpt):
  fn = ckpt['network_fn_state_dict']
  assert fn['nerf_model.pts_linears.0.weight'].shape == (128, 383)
  assert fn['nerf_model.pts_linears.5.weight'].shape == (128, 383 + 128)
  assert fn['nerf_model.views_linears.0.weight'].shape == (64, 128 + 27)
  assert fn['nerf_model.feature_linear.weight'].shape == (128, 128)
  assert fn['slot_att.slots_mu'].shape == (1, 1, 128)
  assert fn['slot_att.gru.weight_ih'].shape == (384, 128)
  assert ckpt['unet_state_dict']['conv1.0.weight'].shape == (64, 66, 3, 3)
  assert ckpt['network_audnet_state_dict']['encoder_conv.0.weight'].shape == (32, 29, 3)
  assert ckpt['network_audattnet_state_dict']['attentionConvNet.8.weight'].shape == (1, 2, 3)
  assert ckpt['position_warp_state_dict']['mlp.0.weight'].shape == (128, 255)
  assert fn['nerf_model.pts_linears.0.weight'].dtype == np.float32


def test_fixture_values_match_the_raw_storages(ckpt):
  # The first two tensors torch.save met are pts_linears.0.weight/bias, in storages '0' and '1'.
  with zipfile.ZipFile(_CKPT) as zf:
    weight = np.frombuffer(zf.read('000060_head/data/0'), '<f4').reshape(128, 383)
    bias = np.frombuffer(zf.read('000060_head/data/1'), '<f4')
  fn = ckpt['network_fn_state_dict']
  np.testing.assert_array_equal(fn['nerf_model.pts_linears.0.weight'], weight)
  np.testing.assert_array_equal(fn['nerf_model.pts_linears.0.bias'], bias)
  assert np.abs(weight).max() > 0


def test_optimizer_state_is_plain_python(ckpt):
  group = ckpt['optimizer_state_dict']['param_groups'][0]
  assert group['lr'] == pytest.approx(5e-4, rel=0.1)
  assert isinstance(group['params'], list) and all(isinstance(p, int) for p in group['params'])
  state = ckpt['optimizer_state_dict']['state'][0]
  assert float(state['step']) == 60.0
  assert state['exp_avg'].shape == (64, 66, 3, 3)  # §7.1: the reference CNN comes first.


def test_strided_tensor_with_offset(tmp_path):
  storage = np.arange(20, dtype=np.float32)
  # A transposed [3, 4] view starting at element 2: element (i, j) = storage[2 + i + 3 * j].
  pkl = _dict_pickle({'t': _tensor_op('7', 20, 2, (3, 4), (1, 3)),
                      'scalar': _tensor_op('7', 20, 19, (), ()),
                      'empty': _tensor_op('7', 20, 0, (0, 5), (5, 1)),
                      'param': (b'ctorch._utils\n_rebuild_parameter\n(' + _tensor_op('7', 20, 4, (2,), (1,))
                                + b'\x89ccollections\nOrderedDict\n)RtR'),
                      'size': b'ctorch\nSize\n' + _op([2, 3]) + b'\x85R',
                      'step': _op(12)})
  path = _write_archive(tmp_path / 'strided.tar', pkl, {'7': storage.tobytes()})
  out = torch_import.read_torch_checkpoint(path)
  expected = np.array([[2 + i + 3 * j for j in range(4)] for i in range(3)], np.float32)
  np.testing.assert_array_equal(out['t'], expected)
  assert out['scalar'].shape == () and out['scalar'] == 19
  assert out['empty'].shape == (0, 5)
  np.testing.assert_array_equal(out['param'], [4.0, 5.0])
  assert out['size'] == (2, 3)
  assert out['step'] == 12


def test_big_endian_and_integer_storages(tmp_path):
  values = np.array([1.5, -2.25, 3.0], np.float64)
  ints = np.array([7, -8], np.int64)
  pkl = _dict_pickle({'d': _tensor_op('0', 3, 0, (3,), (1,), 'DoubleStorage'),
                      'i': _tensor_op('1', 2, 0, (2,), (1,), 'LongStorage')})
  path = _write_archive(tmp_path / 'big.tar', pkl,
                        {'0': values.astype('>f8').tobytes(), '1': ints.astype('>i8').tobytes()},
                        byteorder='big')
  out = torch_import.read_torch_checkpoint(path)
  np.testing.assert_array_equal(out['d'], values)
  np.testing.assert_array_equal(out['i'], ints)
  assert out['d'].dtype == np.float64 and out['i'].dtype == np.int64


# ---- Safety: a checkpoint must never run code. ----


class _EvalPayload:
  """Pickles to a call of builtins.eval that would create `marker`."""

  def __init__(self, marker: pathlib.Path):
    self.marker = marker

  def __reduce__(self):
    return (eval, (f"open({str(self.marker)!r}, 'w').close()",))


def _malicious_pickles(marker: pathlib.Path) -> dict[str, bytes]:
  return {
      'eval_protocol2': pickle.dumps(_EvalPayload(marker), protocol=2),
      'eval_protocol4': pickle.dumps(_EvalPayload(marker), protocol=4),
      'os_system': b'\x80\x02cos\nsystem\n' + _op(f'touch {marker}') + b'\x85R.',
      'nested_in_state_dict': _dict_pickle({
          'w': _tensor_op('0', 1, 0, (1,), (1,)),
          'hook': b'cbuiltins\nexec\n' + _op(f"open({str(marker)!r}, 'w').close()") + b'\x85R'}),
  }


@pytest.mark.parametrize('case', ['eval_protocol2', 'eval_protocol4', 'os_system',
                                  'nested_in_state_dict'])
def test_malicious_pickle_is_refused_without_running(tmp_path, case):
  marker = tmp_path / 'pwned'
  path = _write_archive(tmp_path / 'evil.tar', _malicious_pickles(marker)[case],
                        {'0': np.zeros(1, np.float32).tobytes()})
  with pytest.raises(torch_import.CheckpointError, match='refusing to load global') as err:
    torch_import.read_torch_checkpoint(path)
  assert str(path) in str(err.value)
  assert not marker.exists()


@pytest.mark.parametrize('module,name', [('torch.serialization', 'load'),
                                         ('numpy.core.multiarray', '_reconstruct'),
                                         ('builtins', 'getattr')])
def test_other_globals_are_refused(tmp_path, module, name):
  pkl = b'\x80\x02c' + f'{module}\n{name}\n'.encode() + b')R.'
  path = _write_archive(tmp_path / 'other.tar', pkl, {})
  with pytest.raises(torch_import.CheckpointError, match=f'{module}.{name}'):
    torch_import.read_torch_checkpoint(path)


# ---- Malformed files. ----


def test_missing_file(tmp_path):
  with pytest.raises(torch_import.CheckpointError, match='not a file'):
    torch_import.read_torch_checkpoint(tmp_path / 'nope.tar')
  with pytest.raises(torch_import.CheckpointError, match='not a file'):
    torch_import.read_torch_checkpoint(tmp_path)


def test_random_bytes_and_truncated(tmp_path):
  random_file = tmp_path / 'random.tar'
  random_file.write_bytes(np.random.default_rng(0).bytes(4096))
  truncated = tmp_path / 'truncated.tar'
  truncated.write_bytes(_CKPT.read_bytes()[:len(_CKPT.read_bytes()) // 2])
  for path in (random_file, truncated):
    with pytest.raises(torch_import.CheckpointError, match='not a zip') as err:
      torch_import.read_torch_checkpoint(path)
    assert str(path) in str(err.value)


def test_zip_without_data_pkl(tmp_path):
  path = tmp_path / 'plain.zip'
  with zipfile.ZipFile(path, 'w') as zf:
    zf.writestr('archive/readme.txt', 'hello')
  with pytest.raises(torch_import.CheckpointError, match='data.pkl') as err:
    torch_import.read_torch_checkpoint(path)
  assert str(path) in str(err.value)


def test_truncated_pickle_and_bad_storages(tmp_path):
  good = _dict_pickle({'w': _tensor_op('0', 4, 0, (4,), (1,))})
  raw = np.zeros(4, np.float32).tobytes()
  cases = {
      'cut.tar': (good[:len(good) // 2], {'0': raw}, 'corrupt'),
      'short.tar': (good, {'0': raw[:8]}, 'has 8 bytes, expected 4 x 4'),
      'nostorage.tar': (good, {}, 'archive/data/0 is referenced'),
      'overrun.tar': (_dict_pickle({'w': _tensor_op('0', 4, 2, (3,), (1,))}), {'0': raw},
                      'reaches element 4'),
      'list.tar': (pickle.dumps([1, 2], protocol=2), {}, 'holds a list, expected a dict'),
  }
  for name, (pkl, storages, message) in cases.items():
    path = _write_archive(tmp_path / name, pkl, storages)
    with pytest.raises(torch_import.CheckpointError, match=message) as err:
      torch_import.read_torch_checkpoint(path)
    assert str(path) in str(err.value)


# ---- Mapping onto the Flax tree. ----


def test_tree_matches_our_layout(converted):
  params, info = converted
  torch_import.check_params(params, _expected_shapes(width=128))
  assert 'feature' not in params['coarse'] and 'feature' not in params['fine']
  assert info.global_step == 59
  assert info.absent == ()
  assert set(info.present) == {
      'network_fn_state_dict', 'network_fine_state_dict', 'network_audnet_state_dict',
      'network_audattnet_state_dict', 'unet_state_dict', 'attention_state_dict',
      'position_warp_state_dict'}


def test_transposes(ckpt, converted):
  params, _ = converted
  rng = np.random.default_rng(0)
  conv1d = ckpt['network_audnet_state_dict']['encoder_conv.4.weight']  # [out, in, k]
  conv2d = ckpt['unet_state_dict']['conv2.0.weight']  # [out, in, kh, kw]
  dense = ckpt['network_fine_state_dict']['nerf_model.views_linears.0.weight']  # [out, in]
  attention = ckpt['attention_state_dict']
  for _ in range(20):
    o, i, k, kw = (int(rng.integers(n)) for n in (64, 32, 3, 3))
    assert params['audio_net']['conv_2']['kernel'][k, i, o] == conv1d[o, i, k]
    assert params['feature_net']['conv_1']['kernel'][k, kw, i, o] == conv2d[o, i, k, kw]
    o, i = int(rng.integers(64)), int(rng.integers(155))
    assert params['fine']['views_0']['kernel'][i, o] == dense[o, i]
    o, i = int(rng.integers(384)), int(rng.integers(128))
    assert params['slot_attention']['gru_input']['kernel'][i, o] == attention['gru.weight_ih'][o, i]
    assert params['slot_attention']['gru_hidden']['kernel'][i, o] == attention['gru.weight_hh'][o, i]
  slots = params['slot_attention']
  np.testing.assert_array_equal(slots['gru_input']['bias'], attention['gru.bias_ih'])
  np.testing.assert_array_equal(slots['gru_hidden']['bias'], attention['gru.bias_hh'])
  np.testing.assert_array_equal(slots['norm_pre_ff']['scale'], attention['norm_pre_ff.weight'])
  np.testing.assert_array_equal(slots['norm_pre_ff']['bias'], attention['norm_pre_ff.bias'])
  np.testing.assert_array_equal(slots['slots_mu'], attention['slots_mu'][0, 0])
  np.testing.assert_array_equal(slots['mlp_1']['kernel'], attention['mlp.2.weight'].T)
  np.testing.assert_array_equal(params['warp']['dense_2']['bias'],
                                ckpt['position_warp_state_dict']['mlp.4.bias'])
  np.testing.assert_array_equal(params['audio_att_net']['dense']['kernel'],
                                ckpt['network_audattnet_state_dict']['attentionNet.0.weight'].T)
  np.testing.assert_array_equal(params['coarse']['alpha']['kernel'][:, 0],
                                ckpt['network_fn_state_dict']['nerf_model.alpha_linear.weight'][0])


def test_extra_or_missing_keys_are_named(ckpt):
  extra = copy.deepcopy(ckpt)
  extra['network_fn_state_dict']['nerf_model.extra.weight'] = np.zeros((2, 2), np.float32)
  with pytest.raises(torch_import.CheckpointError, match='nerf_model.extra.weight'):
    torch_import.torch_to_flax(extra)

  missing = copy.deepcopy(ckpt)
  del missing['network_audnet_state_dict']['encoder_conv.2.bias']
  with pytest.raises(torch_import.CheckpointError, match='encoder_conv.2.bias'):
    torch_import.torch_to_flax(missing)

  top = copy.deepcopy(ckpt)
  top['network_extra_state_dict'] = {}
  with pytest.raises(torch_import.CheckpointError, match='network_extra_state_dict'):
    torch_import.torch_to_flax(top)

  no_unet = copy.deepcopy(ckpt)
  del no_unet['unet_state_dict']
  with pytest.raises(torch_import.CheckpointError, match='unet_state_dict'):
    torch_import.torch_to_flax(no_unet)


def test_slot_attention_copies_must_agree(ckpt):
  bad = copy.deepcopy(ckpt)
  bad['network_fine_state_dict']['slot_att.to_q.weight'][3, 5] += 1.0
  message = r'network_fine_state_dict\[slot_att.to_q.weight\]'
  with pytest.raises(torch_import.CheckpointError, match=message):
    torch_import.torch_to_flax(bad)


def test_optional_dicts_may_be_absent(ckpt):
  partial = copy.deepcopy(ckpt)
  del partial['network_audattnet_state_dict'], partial['position_warp_state_dict']
  params, info = torch_import.torch_to_flax(partial)
  assert set(info.absent) == {'network_audattnet_state_dict', 'position_warp_state_dict'}
  assert 'audio_att_net' not in params and 'warp' not in params
  assert 'coarse' in params and 'fine' in params


def test_check_params_names_path_found_and_expected(converted):
  params, _ = converted
  with pytest.raises(torch_import.CheckpointError) as err:
    torch_import.check_params(params, _expected_shapes(width=256))
  assert '/coarse/pts_0/kernel: found shape (383, 128), expected (383, 256)' in str(err.value)

  expected = _expected_shapes(width=128)
  del expected['warp']
  expected['slot_attention']['extra'] = (4,)
  with pytest.raises(torch_import.CheckpointError) as err:
    torch_import.check_params(params, expected)
  assert '/warp: unexpected' in str(err.value)
  assert '/slot_attention/extra: missing' in str(err.value)
