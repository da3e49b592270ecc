"""Converts the authors' PyTorch checkpoint (.tar) into a dfrf-train checkpoint (CLI: import_torch_main).

The output folder looks like a training workdir (OUT/checkpoints/<global_step>/), so
`dfrf-train --config.init_from=OUT` fine-tunes from it and the renderer reads it. The network widths and
depth are read off the checkpoint's kernels (netwidth, netwidth_fine, netdepth) and stored with the
params as the effective model config; every other shape must match the config. State dicts the
authors' code may leave out (fine network, AudioAttNet, warp) get freshly initialised params.
"""

import os
from typing import Any

import jax
import ml_collections
import numpy as np

from dfrf_jax.model import torch_import
from dfrf_jax.model.dfrf import build_model
from dfrf_jax.train import checkpoints, state as state_lib

# Modules whose state dict the authors' checkpoint may lack.
_OPTIONAL_MODULES = ('fine', 'audio_att_net', 'warp')


def infer_model_config(params: dict[str, Any],
                       model_config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """`model_config` with netdepth, netwidth and netwidth_fine read off the imported kernels."""
  model_config = ml_collections.ConfigDict(model_config.to_dict())
  coarse = params['coarse']
  depth = sum(1 for name in coarse if name.startswith('pts_'))
  model_config.netdepth = depth
  model_config.netwidth = int(coarse['pts_0']['kernel'].shape[1])
  if 'fine' in params:
    fine_depth = sum(1 for name in params['fine'] if name.startswith('pts_'))
    if fine_depth != depth:
      raise torch_import.CheckpointError(
          f'network_fine_state_dict has {fine_depth} pts_linears, network_fn_state_dict {depth}; '
          'expected the same depth (one netdepth for both)')
    model_config.netwidth_fine = int(params['fine']['pts_0']['kernel'].shape[1])
  return model_config


def import_checkpoint(path: str, out: str,
                      config: ml_collections.ConfigDict) -> tuple[ml_collections.ConfigDict, int]:
  """Converts `path` and writes it as `<out>/checkpoints/<global_step>`.

  Args:
    path: the authors' `.tar` checkpoint.
    out: the output run folder.
    config: the run config to store (its model section's widths/depth are replaced by the file's).

  Returns:
    (the stored config, the step = the checkpoint's global_step).

  Raises:
    CheckpointError: `path` is not such a checkpoint, or its shapes do not fit the config.
    FileExistsError: `out` already holds checkpoints.
  """
  params, info = torch_import.torch_to_flax(torch_import.read_torch_checkpoint(path))
  config = ml_collections.ConfigDict(config.to_dict())
  config.model = infer_model_config(params, config.model)
  model = build_model(config.model)
  fresh = state_lib.fresh_params(model, jax.random.key(config.seed))
  for module in _OPTIONAL_MODULES:
    if module not in params:
      params[module] = jax.tree.map(np.asarray, fresh[module])
  try:
    torch_import.check_params(params, state_lib.abstract_params(model))
  except torch_import.CheckpointError as e:
    raise torch_import.CheckpointError(f'{path}: does not fit config.model; {e}') from e
  directory = os.path.join(out, checkpoints.CHECKPOINT_DIR)
  if os.path.isdir(directory) and os.listdir(directory):
    raise FileExistsError(f'{directory}: already holds checkpoints; choose a new --out')
  meta = {'source': os.path.abspath(path), 'torch_global_step': info.global_step,
          'freshly_initialised': list(info.absent)}
  checkpoints.save(checkpoints.manager(directory), info.global_step, params, config, meta)
  return config, info.global_step
