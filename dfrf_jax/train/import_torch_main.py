"""dfrf-import-torch: converts the authors' PyTorch checkpoint (.tar) into a dfrf-train checkpoint.

  dfrf-import-torch --checkpoint=base.tar --out=RUN [--config=configs/finetune.py]

RUN then looks like a training workdir (RUN/checkpoints/<global_step>/), so
`dfrf-train --config.init_from=RUN` fine-tunes from it and the renderer reads it. The network widths and
depth are read off the checkpoint's kernels (netwidth, netwidth_fine, netdepth) and stored with the
params as the effective model config; every other shape must match the config. State dicts the
authors' code may leave out (fine network, AudioAttNet, warp) get freshly initialised params.
"""

import os

from absl import app, flags

from dfrf_jax import api
from dfrf_jax import config as default_config
from dfrf_jax.cli import define_config_flag, run_cli
from dfrf_jax.train import checkpoints, progress

_CHECKPOINT = flags.DEFINE_string('checkpoint', None, "The authors' checkpoint, e.g. base.tar.")
_OUT = flags.DEFINE_string('out', None, 'Output run folder (must not hold checkpoints yet).')
_CONFIG = define_config_flag(
    'config', 'Config file (or shipped config name) whose model section describes the checkpoint '
    '(default: the default config); widths and depth are taken from the checkpoint.')


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  progress.hide_orbax_info_logs()
  config = _CONFIG.value if _CONFIG.value is not None else default_config.default_config()
  stored, step = api.import_torch_checkpoint(_CHECKPOINT.value, _OUT.value, config)
  m = stored.model
  print(f'Wrote {os.path.join(_OUT.value, checkpoints.CHECKPOINT_DIR, str(step))} '
        f'(netdepth {m.netdepth}, netwidth {m.netwidth}, netwidth_fine {m.netwidth_fine}).')


def run() -> None:
  """Console-script entry point."""
  run_cli(main, __doc__, ['checkpoint', 'out', 'config'], ['checkpoint', 'out'])


if __name__ == '__main__':
  run()
