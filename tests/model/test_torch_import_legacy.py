"""Tests for dfrf_jax.model.torch_import on legacy (torch < 1.6) files, as LPIPS' alex.pth is."""

import pathlib
import pickle

import numpy as np
import pytest

from dfrf_jax.model import torch_import

_MAGIC = 0x1950a86a20f9469cfc6c


def _op(value) -> bytes:
  """Protocol-2 opcodes that push one plain python value (PROTO and STOP stripped)."""
  return pickle.dumps(value, protocol=2)[2:-1]


def _tensor_op(key: str, numel: int, offset: int, size: tuple, stride: tuple,
               storage: str = 'FloatStorage', view: tuple | None = None) -> bytes:
  """Opcodes of torch._utils._rebuild_tensor_v2 over a legacy persistent id (6 fields)."""
  pid = (b'(' + _op('storage') + f'ctorch\n{storage}\n'.encode() + _op(key) + _op('cuda:0')
         + _op(numel) + _op(view) + b't')
  return (b'ctorch._utils\n_rebuild_tensor_v2\n(' + pid + b'Q' + _op(offset) + _op(size)
          + _op(stride) + _op(False) + b'ccollections\nOrderedDict\n)R' + b'tR')


def _state_dict_pickle(entries: dict[str, bytes]) -> bytes:
  """A protocol-2 pickle of an OrderedDict (a bare state dict) whose values are given as opcodes."""
  body = b''.join(b'(' + _op(k) + v + b'l' for k, v in entries.items())
  return b'\x80\x02ccollections\nOrderedDict\n(' + body + b'l\x85R.'


def _write_legacy(path: pathlib.Path, obj_pkl: bytes, storages: dict[str, np.ndarray],
                  little_endian: bool = True, keys: list[str] | None = None) -> pathlib.Path:
  """Writes header pickles, the object pickle, the key list, then each storage (count, bytes)."""
  order = '<' if little_endian else '>'
  sys_info = {'protocol_version': 1001, 'little_endian': little_endian,
              'type_sizes': {'int': 4, 'short': 2, 'long': 4}}
  parts = [pickle.dumps(_MAGIC, protocol=2), pickle.dumps(1001, protocol=2),
           pickle.dumps(sys_info, protocol=2), obj_pkl,
           pickle.dumps(sorted(storages) if keys is None else keys, protocol=2)]
  for key in sorted(storages):
    values = storages[key]
    parts.append(np.array([values.size], np.int64).astype(order + 'i8').tobytes())
    parts.append(values.astype(values.dtype.newbyteorder(order)).tobytes())
  path.write_bytes(b''.join(parts))
  return path


def test_lpips_like_state_dict(tmp_path):
  lin0 = np.linspace(0.0, 1.0, 8, dtype=np.float32)
  lin1 = np.linspace(2.0, 3.0, 4, dtype=np.float32)
  pkl = _state_dict_pickle({
      'lin0.model.1.weight': _tensor_op('19', 8, 0, (1, 8, 1, 1), (8, 1, 1, 1)),
      'lin1.model.1.weight': _tensor_op('7', 4, 0, (1, 4, 1, 1), (4, 1, 1, 1)),
  })
  path = _write_legacy(tmp_path / 'alex.pth', pkl, {'19': lin0, '7': lin1})
  out = torch_import.read_torch_checkpoint(path)
  assert list(out) == ['lin0.model.1.weight', 'lin1.model.1.weight']
  np.testing.assert_array_equal(out['lin0.model.1.weight'], lin0.reshape(1, 8, 1, 1))
  np.testing.assert_array_equal(out['lin1.model.1.weight'], lin1.reshape(1, 4, 1, 1))
  assert all(v.flags.c_contiguous and v.flags.owndata for v in out.values())


def test_strided_view_and_shared_storage(tmp_path):
  storage = np.arange(20, dtype=np.float64)
  pkl = _state_dict_pickle({
      # A transposed [3, 4] view at element 2: element (i, j) = storage[2 + i + 3 * j].
      't': _tensor_op('0', 20, 2, (3, 4), (1, 3), 'DoubleStorage'),
      # A storage view of elements 10..19, and a tensor at offset 1 inside it.
      'v': _tensor_op('0', 20, 1, (3,), (2,), 'DoubleStorage', view=('v0', 10, 10)),
  })
  path = _write_legacy(tmp_path / 'strided.pth', pkl, {'0': storage}, little_endian=False)
  out = torch_import.read_torch_checkpoint(path)
  expected = np.array([[2 + i + 3 * j for j in range(4)] for i in range(3)], np.float64)
  np.testing.assert_array_equal(out['t'], expected)
  np.testing.assert_array_equal(out['v'], [11.0, 13.0, 15.0])
  assert out['t'].dtype == np.float64


def test_header_with_globals_is_refused(tmp_path):
  path = tmp_path / 'evil.pth'
  path.write_bytes(pickle.dumps(_MAGIC, protocol=2) + b'\x80\x02cos\nsystem\n.')
  with pytest.raises(torch_import.CheckpointError, match='os.system') as err:
    torch_import.read_torch_checkpoint(path)
  assert str(path) in str(err.value)


@pytest.mark.parametrize('case,match', [
    ('junk_after_magic', 'corrupt'),
    ('short_storage', 'has 8 bytes, expected 4 x 4'),
    ('wrong_count', 'holds 3 elements'),
    ('key_mismatch', 'do not match'),
    ('trailing', 'unexpected bytes'),
])
def test_malformed_legacy_files(tmp_path, case, match):
  values = np.arange(4, dtype=np.float32)
  pkl = _state_dict_pickle({'w': _tensor_op('0', 4, 0, (4,), (1,))})
  path = tmp_path / f'{case}.pth'
  if case == 'junk_after_magic':
    path.write_bytes(pickle.dumps(_MAGIC, protocol=2) + b'junk')
  elif case == 'key_mismatch':
    _write_legacy(path, pkl, {'0': values}, keys=['0', '1'])
  else:
    _write_legacy(path, pkl, {'0': values})
    raw = path.read_bytes()
    if case == 'short_storage':
      raw = raw[:-8]
    elif case == 'wrong_count':
      count_at = len(raw) - 16 - 8
      raw = raw[:count_at] + np.array([3], '<i8').tobytes() + raw[count_at + 8:]
    else:
      raw += b'\x00'
    path.write_bytes(raw)
  with pytest.raises(torch_import.CheckpointError, match=match) as err:
    torch_import.read_torch_checkpoint(path)
  assert str(path) in str(err.value)
