"""Reads the authors' PyTorch checkpoints without PyTorch and maps them onto our Flax params.

A `{i:06d}_head.tar` written by `torch.save` (zip format, torch >= 1.6) is a zip archive holding
`<archive>/data.pkl` (a pickle whose tensors point at storages through persistent ids),
`<archive>/data/<storage key>` (raw storage bytes) and `<archive>/byteorder`. Older files (legacy
format, torch < 1.6, e.g. the LPIPS `alex.pth` weights) are a sequence of pickles instead: magic
number, protocol version, system info, the object, the list of storage keys, then each storage as an
int64 element count followed by its bytes. Pickles are read with an unpickler that only resolves
the few globals a tensor checkpoint needs, so a checkpoint can never run code; tensors come back as
numpy arrays.

`torch_to_flax` then renames and transposes the state dicts (layout in §7.5 of the spec):
Linear [out, in] -> Dense kernel [in, out]; Conv1d [out, in, k] -> [k, in, out];
Conv2d [out, in, kh, kw] -> [kh, kw, in, out]; LayerNorm weight -> scale.
"""

import collections
from collections.abc import Callable, Mapping
import dataclasses
import os
import pickle
import zipfile
import zlib
from typing import Any

import ml_dtypes
import numpy as np

from dfrf_jax.errors import UserError

PathLike = str | os.PathLike[str]
Params = dict[str, Any]

# Element types of torch's typed storages (torch/storage.py), by the class name the pickle names.
_STORAGE_DTYPES: dict[str, np.dtype] = {
    'DoubleStorage': np.dtype(np.float64),
    'FloatStorage': np.dtype(np.float32),
    'HalfStorage': np.dtype(np.float16),
    'BFloat16Storage': np.dtype(ml_dtypes.bfloat16),
    'LongStorage': np.dtype(np.int64),
    'IntStorage': np.dtype(np.int32),
    'ShortStorage': np.dtype(np.int16),
    'CharStorage': np.dtype(np.int8),
    'ByteStorage': np.dtype(np.uint8),
    'BoolStorage': np.dtype(np.bool_),
    'ComplexFloatStorage': np.dtype(np.complex64),
    'ComplexDoubleStorage': np.dtype(np.complex128),
    'UntypedStorage': np.dtype(np.uint8),
}

# A pre-1.6 (legacy, non-zip) torch.save file starts with this pickled magic number, then the
# pickled protocol version.
_LEGACY_MAGIC_NUMBER = 0x1950a86a20f9469cfc6c
_LEGACY_PROTOCOL_VERSION = 1001

# Top-level entries of the authors' checkpoint (run_nerf_deform.py, train()).
_REQUIRED_DICTS = ('network_fn_state_dict', 'network_audnet_state_dict', 'unet_state_dict',
                   'attention_state_dict')
# The authors' loader tolerates these being absent (fine net only with N_importance > 0; the warp is
# only reloaded for rendering).
_OPTIONAL_DICTS = ('network_fine_state_dict', 'network_audattnet_state_dict',
                   'position_warp_state_dict')
# Adam states: known, but not part of the model params.
_OPTIMIZER_DICTS = ('optimizer_state_dict', 'optimizer_aud_state_dict',
                    'optimizer_audatt_state_dict')


class CheckpointError(UserError, ValueError):
  """A checkpoint file or its contents do not have the expected form."""


@dataclasses.dataclass(frozen=True)
class ImportInfo:
  """What `torch_to_flax` found besides the params.

  Attributes:
    global_step: the checkpoint's `global_step` (the authors save iteration i with i - 1).
    present: the state dicts that were converted.
    absent: the optional state dicts that were missing; their modules get no params.
  """
  global_step: int
  present: tuple[str, ...]
  absent: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class _StorageType:
  """Stands in for a torch storage class named by the pickle."""
  name: str
  dtype: np.dtype


class _RestrictedUnpickler(pickle.Unpickler):
  """Unpickles a torch checkpoint's object pickle, resolving only tensor-rebuilding globals.

  `load_storage(key, dtype, numel)` returns a storage's elements (zip format, where they can be read
  when first referenced); the legacy subclass allocates storages itself and needs none.
  """

  def __init__(self, file: Any, path: str,
               load_storage: Callable[[str, np.dtype, int], np.ndarray] | None = None):
    super().__init__(file)
    self._path = path
    self._load_storage = load_storage
    self._storages: dict[str, np.ndarray] = {}
    self._allowed: dict[tuple[str, str], Any] = {
        ('collections', 'OrderedDict'): collections.OrderedDict,
        ('torch._utils', '_rebuild_tensor_v2'): self._rebuild_tensor,
        ('torch._utils', '_rebuild_parameter'): self._rebuild_parameter,
        ('torch', 'Size'): tuple,
        ('builtins', 'set'): set,
        ('builtins', 'frozenset'): frozenset,
    }
    for name, dtype in _STORAGE_DTYPES.items():
      self._allowed[('torch', name)] = _StorageType(name, dtype)
    self._allowed[('torch.storage', 'UntypedStorage')] = self._allowed[('torch', 'UntypedStorage')]

  def find_class(self, module: str, name: str) -> Any:
    try:
      return self._allowed[(module, name)]
    except KeyError:
      allowed = ', '.join(sorted(f'{m}.{n}' for m, n in self._allowed))
      raise CheckpointError(
          f'{self._path}: refusing to load global {module}.{name}; a weights checkpoint may only '
          f'reference tensor-rebuilding globals ({allowed})') from None

  def persistent_load(self, pid: Any) -> np.ndarray:
    """Resolves ('storage', storage_type, key, location, numel) to a 1-D numpy array."""
    if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == 'storage'
            and isinstance(pid[1], _StorageType) and isinstance(pid[2], str)
            and isinstance(pid[4], int)):
      raise CheckpointError(f'{self._path}: unexpected persistent id {pid!r}; expected '
                            "('storage', <torch storage type>, key, location, numel)")
    _, storage_type, key, _, numel = pid
    if key not in self._storages:
      self._storages[key] = self._load_storage(key, storage_type.dtype, numel)
    storage = self._storages[key]
    if storage.dtype != storage_type.dtype:
      raise CheckpointError(f'{self._path}: storage {key} is read both as {storage.dtype} and as '
                            f'{storage_type.dtype}')
    return storage

  def _rebuild_tensor(self, storage: Any, storage_offset: Any, size: Any, stride: Any,
                      requires_grad: Any, backward_hooks: Any, metadata: Any = None) -> np.ndarray:
    """Copies the strided view of `storage` a torch tensor describes into a new array."""
    del requires_grad, backward_hooks, metadata  # Autograd state; meaningless for numpy.
    if not isinstance(storage, np.ndarray):
      raise CheckpointError(f'{self._path}: tensor built from {type(storage).__name__}, not a storage')
    if not (_is_int_tuple(size) and _is_int_tuple(stride) and len(size) == len(stride)
            and isinstance(storage_offset, int) and storage_offset >= 0
            and all(s >= 0 for s in size + stride)):
      raise CheckpointError(f'{self._path}: bad tensor geometry offset={storage_offset!r} '
                            f'size={size!r} stride={stride!r}')
    if 0 in size:
      return np.zeros(size, storage.dtype)
    last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= storage.size:
      raise CheckpointError(f'{self._path}: tensor of size {size}, stride {stride} at offset '
                            f'{storage_offset} reaches element {last} of a storage of {storage.size}')
    view = np.lib.stride_tricks.as_strided(
        storage[storage_offset:], shape=size, strides=[s * storage.itemsize for s in stride],
        writeable=False)
    return self._finish_tensor(view)

  def _finish_tensor(self, view: np.ndarray) -> np.ndarray:
    """Zip format: the storage is already read, so the tensor is copied out of it now."""
    return view.copy()

  def _rebuild_parameter(self, data: Any, requires_grad: Any, backward_hooks: Any) -> Any:
    """torch.nn.Parameter wraps a tensor; numpy keeps the tensor."""
    del requires_grad, backward_hooks
    return data


def _is_int_tuple(value: Any) -> bool:
  return isinstance(value, tuple) and all(isinstance(v, int) for v in value)


def _archive_prefix(zf: zipfile.ZipFile, path: str) -> str:
  """The one top-level folder `<archive>/` holding data.pkl."""
  prefixes = [n[:-len('data.pkl')] for n in zf.namelist()
              if n.endswith('/data.pkl') and n.count('/') == 1]
  if len(prefixes) != 1:
    raise CheckpointError(f'{path}: expected one <archive>/data.pkl in the zip (torch.save format), '
                          f'found {len(prefixes)}')
  return prefixes[0]


def _byte_order(zf: zipfile.ZipFile, prefix: str, path: str) -> str:
  """numpy byte-order character of the storages (torch < 1.10 wrote no record: little-endian)."""
  name = prefix + 'byteorder'
  if name not in zf.namelist():
    return '<'
  order = zf.read(name).decode('ascii', 'replace').strip()
  if order not in ('little', 'big'):
    raise CheckpointError(f"{path}: {name} says {order!r}, expected 'little' or 'big'")
  return '<' if order == 'little' else '>'


def _read_zip(path: str) -> Any:
  """Reads a zip-format (torch >= 1.6) torch.save file."""
  with zipfile.ZipFile(path) as zf:
    prefix = _archive_prefix(zf, path)
    order = _byte_order(zf, prefix, path)
    names = set(zf.namelist())

    def load_storage(key: str, dtype: np.dtype, numel: int) -> np.ndarray:
      name = f'{prefix}data/{key}'
      if name not in names:
        raise CheckpointError(f'{path}: storage {name} is referenced by data.pkl but missing')
      raw = zf.read(name)
      if len(raw) != numel * dtype.itemsize:
        raise CheckpointError(f'{path}: storage {name} has {len(raw)} bytes, expected '
                              f'{numel} x {dtype.itemsize}')
      return np.frombuffer(raw, dtype.newbyteorder(order)).astype(dtype)

    with zf.open(prefix + 'data.pkl') as f:
      return _RestrictedUnpickler(f, path, load_storage).load()


def _is_legacy(path: str) -> bool:
  """Whether the file starts with the pickled magic number of the legacy format."""
  magic = pickle.dumps(_LEGACY_MAGIC_NUMBER, protocol=2)
  with open(path, 'rb') as f:
    return f.read(len(magic)) == magic


class _PlainUnpickler(pickle.Unpickler):
  """Unpickles the plain-python header and key-list pickles of a legacy file: no globals at all."""

  def __init__(self, file: Any, path: str):
    super().__init__(file)
    self._path = path

  def find_class(self, module: str, name: str) -> Any:
    raise CheckpointError(f'{self._path}: refusing to load global {module}.{name} in a legacy '
                          'torch.save header, which holds only plain python values')


class _LegacyUnpickler(_RestrictedUnpickler):
  """Unpickles a legacy file's object pickle, whose storage bytes only follow it in the file.

  Storages are allocated when first referenced and tensors stay read-only views of them; `fill`
  writes the bytes in once they have been read, and the views are copied out afterwards.
  """

  def persistent_load(self, pid: Any) -> np.ndarray:
    """Resolves ('storage', storage_type, key, location, numel, view_metadata) to a 1-D array."""
    if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == 'storage'
            and isinstance(pid[1], _StorageType) and isinstance(pid[2], str)
            and isinstance(pid[4], int) and pid[4] >= 0):
      raise CheckpointError(f'{self._path}: unexpected persistent id {pid!r}; expected '
                            "('storage', <torch storage type>, key, location, numel, view)")
    _, storage_type, key, _, numel, view = pid
    if key not in self._storages:
      self._storages[key] = np.zeros(numel, storage_type.dtype)
    storage = self._storages[key]
    if storage.dtype != storage_type.dtype or storage.size != numel:
      raise CheckpointError(f'{self._path}: storage {key} is referenced both as {storage.size} x '
                            f'{storage.dtype} and as {numel} x {storage_type.dtype}')
    if view is None:
      return storage
    if not (isinstance(view, tuple) and len(view) == 3 and all(isinstance(v, int) for v in view[1:])
            and 0 <= view[1] and view[1] + view[2] <= numel):
      raise CheckpointError(f'{self._path}: bad storage view {view!r} of storage {key} ({numel})')
    return storage[view[1]:view[1] + view[2]]

  def _finish_tensor(self, view: np.ndarray) -> np.ndarray:
    return view

  def fill(self, f: Any, keys: Any, byte_order: str) -> None:
    """Reads each storage (int64 element count, then its bytes) in the order `keys` lists them."""
    if not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
      raise CheckpointError(f'{self._path}: the storage key list is {keys!r}, expected a list '
                            'of str')
    if set(keys) != set(self._storages):
      raise CheckpointError(f'{self._path}: storage keys {sorted(keys)} do not match the storages '
                            f'the tensors reference {sorted(self._storages)}')
    for key in keys:
      storage = self._storages[key]
      head = f.read(8)
      if len(head) != 8:
        raise CheckpointError(f'{self._path}: file ends before storage {key}')
      numel = int(np.frombuffer(head, np.dtype(np.int64).newbyteorder(byte_order))[0])
      if numel != storage.size:
        raise CheckpointError(f'{self._path}: storage {key} holds {numel} elements, the tensors '
                              f'expect {storage.size}')
      raw = f.read(numel * storage.itemsize)
      if len(raw) != numel * storage.itemsize:
        raise CheckpointError(f'{self._path}: storage {key} has {len(raw)} bytes, expected '
                              f'{numel} x {storage.itemsize}')
      storage[:] = np.frombuffer(raw, storage.dtype.newbyteorder(byte_order))


def _copy_tensors(obj: Any) -> Any:
  """Replaces every array view in a nested dict/list/tuple by a C-contiguous copy."""
  if isinstance(obj, np.ndarray):
    return obj.copy()
  if isinstance(obj, dict):
    for key, value in obj.items():
      obj[key] = _copy_tensors(value)
    return obj
  if isinstance(obj, list):
    return [_copy_tensors(v) for v in obj]
  if isinstance(obj, tuple):
    return tuple(_copy_tensors(v) for v in obj)
  return obj


def _read_legacy(path: str) -> Any:
  """Reads a legacy (torch < 1.6) torch.save file."""
  with open(path, 'rb') as f:
    header = [_PlainUnpickler(f, path).load() for _ in range(3)]
    magic, protocol, sys_info = header
    if magic != _LEGACY_MAGIC_NUMBER or protocol != _LEGACY_PROTOCOL_VERSION:
      raise CheckpointError(f'{path}: legacy torch.save header is ({magic!r}, {protocol!r}), '
                            f'expected ({_LEGACY_MAGIC_NUMBER:#x}, {_LEGACY_PROTOCOL_VERSION})')
    if not (isinstance(sys_info, dict) and isinstance(sys_info.get('little_endian'), bool)):
      raise CheckpointError(f'{path}: legacy system info {sys_info!r} lacks little_endian')
    unpickler = _LegacyUnpickler(f, path)
    obj = unpickler.load()
    keys = _PlainUnpickler(f, path).load()
    unpickler.fill(f, keys, '<' if sys_info['little_endian'] else '>')
    if f.read(1):
      raise CheckpointError(f'{path}: unexpected bytes after the last storage')
  return _copy_tensors(obj)


def read_torch_checkpoint(path: PathLike) -> dict[str, Any]:
  """Reads a `torch.save` checkpoint without torch and without running its code.

  Args:
    path: the checkpoint file: zip format (torch >= 1.6, e.g. `000060_head.tar`) or legacy format
      (e.g. LPIPS' `alex.pth`). A bare state dict (an OrderedDict) is a dict too.

  Returns:
    The saved top-level dict: tensors become numpy arrays of their dtype and shape (a copy,
    C-contiguous); ints, floats, strings, lists and dicts (e.g. optimizer states) stay plain python.

  Raises:
    CheckpointError: naming the file, if it is missing, neither a torch zip archive nor a legacy
      torch.save file, truncated or corrupt, not a dict at the top level, or if its pickle
      references any global besides the tensor-rebuilding ones.
  """
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise CheckpointError(f'{path}: not a file')
  try:
    if zipfile.is_zipfile(path):
      ckpt = _read_zip(path)
    elif _is_legacy(path):
      ckpt = _read_legacy(path)
    else:
      raise CheckpointError(f'{path}: not a zip archive (torch.save format) and not a legacy '
                            'torch.save file, or truncated')
  except CheckpointError:
    raise
  except (pickle.UnpicklingError, zipfile.BadZipFile, zlib.error, EOFError, ValueError, TypeError,
          IndexError, KeyError, AttributeError, OverflowError) as e:
    raise CheckpointError(f'{path}: corrupt torch checkpoint ({type(e).__name__}: {e})') from e
  if not isinstance(ckpt, dict):
    raise CheckpointError(f'{path}: holds a {type(ckpt).__name__}, expected a dict of state dicts')
  return ckpt


class _StateDict:
  """Hands out a state dict's arrays by key, so that unused keys can be reported at the end."""

  def __init__(self, name: str, state: Any):
    if not isinstance(state, Mapping):
      raise CheckpointError(f'{name}: expected a state dict, got {type(state).__name__}')
    self.name = name
    self._left = dict(state)

  def take(self, key: str, ndim: int) -> np.ndarray:
    if key not in self._left:
      raise CheckpointError(f'{self.name}: missing key {key!r}')
    value = self._left.pop(key)
    if not isinstance(value, np.ndarray) or value.ndim != ndim:
      raise CheckpointError(f'{self.name}[{key!r}]: expected a {ndim}-d tensor, got '
                            f'{getattr(value, "shape", type(value).__name__)}')
    return value

  def has(self, key: str) -> bool:
    return key in self._left

  def take_prefixed(self, prefix: str) -> dict[str, Any]:
    """Removes and returns every entry whose key starts with `prefix`, with the prefix stripped."""
    taken = {k[len(prefix):]: v for k, v in self._left.items() if k.startswith(prefix)}
    for k in taken:
      del self._left[prefix + k]
    return taken

  def finish(self) -> None:
    if self._left:
      raise CheckpointError(f'{self.name}: unexpected keys {sorted(self._left)}')


def _dense(sd: _StateDict, key: str) -> Params:
  return {'kernel': np.ascontiguousarray(sd.take(f'{key}.weight', 2).T),
          'bias': sd.take(f'{key}.bias', 1)}


def _conv1d(sd: _StateDict, key: str) -> Params:
  return {'kernel': np.ascontiguousarray(sd.take(f'{key}.weight', 3).transpose(2, 1, 0)),
          'bias': sd.take(f'{key}.bias', 1)}


def _conv2d(sd: _StateDict, key: str) -> Params:
  return {'kernel': np.ascontiguousarray(sd.take(f'{key}.weight', 4).transpose(2, 3, 1, 0)),
          'bias': sd.take(f'{key}.bias', 1)}


def _layer_norm(sd: _StateDict, key: str) -> Params:
  return {'scale': sd.take(f'{key}.weight', 1), 'bias': sd.take(f'{key}.bias', 1)}


def _audio_net(sd: _StateDict) -> Params:
  params = {f'conv_{i}': _conv1d(sd, f'encoder_conv.{2 * i}') for i in range(4)}
  params.update({f'dense_{i}': _dense(sd, f'encoder_fc1.{2 * i}') for i in range(2)})
  return params


def _audio_att_net(sd: _StateDict) -> Params:
  params = {f'conv_{i}': _conv1d(sd, f'attentionConvNet.{2 * i}') for i in range(5)}
  params['dense'] = _dense(sd, 'attentionNet.0')
  return params


def _feature_net(sd: _StateDict) -> Params:
  return {'conv_0': _conv2d(sd, 'conv1.0'), 'conv_1': _conv2d(sd, 'conv2.0'),
          'dense': _dense(sd, 'fc')}


def _warp(sd: _StateDict) -> Params:
  return {f'dense_{i}': _dense(sd, f'mlp.{2 * i}') for i in range(3)}


def _slot_vector(sd: _StateDict, key: str) -> np.ndarray:
  value = sd.take(key, 3)
  if value.shape[:2] != (1, 1):
    raise CheckpointError(f'{sd.name}[{key!r}]: expected shape [1, 1, dim], got {list(value.shape)}')
  return value.reshape(-1)


def _slot_attention(sd: _StateDict) -> Params:
  params = {
      'slots_mu': _slot_vector(sd, 'slots_mu'),
      'slots_logsigma': _slot_vector(sd, 'slots_logsigma'),
      'fc1': _dense(sd, 'fc1.0'),
      'fc6': _dense(sd, 'fc6'),
      'fc7': _dense(sd, 'fc7.0'),
      'mlp_0': _dense(sd, 'mlp.0'),
      'mlp_1': _dense(sd, 'mlp.2'),
  }
  for name in ('norm_input', 'norm_slots', 'norm_pre_ff'):
    params[name] = _layer_norm(sd, name)
  for name in ('to_q', 'to_k', 'to_v'):
    params[name] = _dense(sd, name)
  # torch.nn.GRUCell: rows of weight_ih / weight_hh are the (r, z, n) gate blocks; kept in that order.
  for name, side in (('gru_input', 'ih'), ('gru_hidden', 'hh')):
    params[name] = {'kernel': np.ascontiguousarray(sd.take(f'gru.weight_{side}', 2).T),
                    'bias': sd.take(f'gru.bias_{side}', 1)}
  return params


def _nerf(sd: _StateDict) -> Params:
  """`nerf_model.*` of a `nerf_attention_model`; the layer counts follow the checkpoint."""
  params = {}
  for kind in ('pts', 'views'):
    i = 0
    while sd.has(f'nerf_model.{kind}_linears.{i}.weight'):
      params[f'{kind}_{i}'] = _dense(sd, f'nerf_model.{kind}_linears.{i}')
      i += 1
    if i == 0:
      raise CheckpointError(f'{sd.name}: missing key nerf_model.{kind}_linears.0.weight')
  params['alpha'] = _dense(sd, 'nerf_model.alpha_linear')
  params['rgb'] = _dense(sd, 'nerf_model.rgb_linear')
  # Built but never called by the authors' forward pass (the colour branch reads h7 directly).
  sd.take('nerf_model.feature_linear.weight', 2)
  sd.take('nerf_model.feature_linear.bias', 1)
  return params


def _check_slot_copy(sd: _StateDict, attention: Mapping[str, Any]) -> None:
  """The `slot_att.*` entries of a NeRF dict must equal `attention_state_dict` (one shared module)."""
  copy = sd.take_prefixed('slot_att.')
  if set(copy) != set(attention):
    raise CheckpointError(
        f'{sd.name}: slot_att.* keys differ from attention_state_dict: only in {sd.name}: '
        f'{sorted(set(copy) - set(attention))}, only in attention_state_dict: '
        f'{sorted(set(attention) - set(copy))}')
  for key, value in copy.items():
    if not np.array_equal(np.asarray(value), np.asarray(attention[key])):
      raise CheckpointError(f'{sd.name}[slot_att.{key}] differs from attention_state_dict[{key}]; '
                            'they should be the same shared SlotAttention module')


def torch_to_flax(ckpt: Mapping[str, Any]) -> tuple[Params, ImportInfo]:
  """Maps the authors' checkpoint dict (from `read_torch_checkpoint`) onto our Flax param tree.

  Args:
    ckpt: the checkpoint's top-level dict (`global_step`, `*_state_dict`).

  Returns:
    params: nested dict of numpy arrays with the modules `audio_net`, `feature_net`,
      `slot_attention`, `coarse`, and, when their state dicts are present, `audio_att_net`, `warp`,
      `fine`. Dense kernels are [in, out], Conv1d kernels [k, in, out], Conv2d kernels
      [kh, kw, in, out]; the GRU keeps torch's (r, z, n) gate blocks along the output axis.
    info: the global step and which state dicts were present.

  Raises:
    CheckpointError: naming the key, for a missing, unexpected or malformed entry, or if a NeRF's
      `slot_att.*` copy differs from `attention_state_dict`.
  """
  known = {'global_step', *_REQUIRED_DICTS, *_OPTIONAL_DICTS, *_OPTIMIZER_DICTS}
  unexpected = sorted(set(ckpt) - known)
  if unexpected:
    raise CheckpointError(f'checkpoint: unexpected top-level keys {unexpected}')
  missing = [k for k in ('global_step', *_REQUIRED_DICTS) if k not in ckpt]
  if missing:
    raise CheckpointError(f'checkpoint: missing top-level keys {missing}')
  global_step = ckpt['global_step']
  if not isinstance(global_step, int) or isinstance(global_step, bool):
    raise CheckpointError(f'checkpoint: global_step is {global_step!r}, expected an int')

  converters = {
      'network_audnet_state_dict': ('audio_net', _audio_net),
      'network_audattnet_state_dict': ('audio_att_net', _audio_att_net),
      'unet_state_dict': ('feature_net', _feature_net),
      'position_warp_state_dict': ('warp', _warp),
      'attention_state_dict': ('slot_attention', _slot_attention),
      'network_fn_state_dict': ('coarse', _nerf),
      'network_fine_state_dict': ('fine', _nerf),
  }
  params = {}
  for dict_name, (module, convert) in converters.items():
    if dict_name not in ckpt:
      continue
    sd = _StateDict(dict_name, ckpt[dict_name])
    if module in ('coarse', 'fine'):
      _check_slot_copy(sd, ckpt['attention_state_dict'])
    params[module] = convert(sd)
    sd.finish()
  present = tuple(k for k in converters if k in ckpt)
  absent = tuple(k for k in _OPTIONAL_DICTS if k not in ckpt)
  return params, ImportInfo(global_step=global_step, present=present, absent=absent)


def param_mismatches(params: Mapping[str, Any], expected: Mapping[str, Any]) -> list[str]:
  """Where imported params differ from the structure and shapes a model expects.

  Args:
    params: nested dict whose leaves have a `.shape` (arrays, e.g. from `torch_to_flax`, or orbax's
      stored array metadata).
    expected: nested dict with the same keys whose leaves have a `.shape` (arrays,
      `jax.ShapeDtypeStruct` from `jax.eval_shape(model.init, ...)['params']`) or are shape tuples.

  Returns:
    One line per key path that is missing, unexpected, or whose shape differs (found vs expected),
    in key order; empty when everything matches.
  """
  problems = []

  def visit(found: Any, want: Any, path: str) -> None:
    if isinstance(want, Mapping):
      if not isinstance(found, Mapping):
        problems.append(f'{path}: found a {type(found).__name__}, expected a dict')
        return
      for key in sorted(set(want) - set(found)):
        problems.append(f'{path}/{key}: missing')
      for key in sorted(set(found) - set(want)):
        problems.append(f'{path}/{key}: unexpected')
      for key in sorted(set(found) & set(want)):
        visit(found[key], want[key], f'{path}/{key}')
      return
    want_shape = tuple(want) if isinstance(want, tuple) else tuple(want.shape)
    if not hasattr(found, 'shape'):
      problems.append(f'{path}: found a {type(found).__name__}, expected an array of shape {want_shape}')
    elif tuple(found.shape) != want_shape:
      problems.append(f'{path}: found shape {tuple(found.shape)}, expected {want_shape}')

  visit(params, expected, '')
  return problems


def check_params(params: Mapping[str, Any], expected: Mapping[str, Any]) -> None:
  """Checks that imported params have exactly the structure and shapes a model expects.

  Args:
    params: as `param_mismatches`.
    expected: as `param_mismatches`.

  Raises:
    CheckpointError: listing every key path that is missing, unexpected, or whose shape differs
      (found vs expected), e.g. a 256-wide checkpoint loaded into a 128-wide config.
  """
  problems = param_mismatches(params, expected)
  if problems:
    raise CheckpointError('params do not match the model:\n  ' + '\n  '.join(problems))
