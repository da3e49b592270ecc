"""dfrf-train: trains a DFRF base model or fine-tunes one on an identity.

  dfrf-train --config=configs/base.py --config.data_dir=DATASET --workdir=RUN
  dfrf-train --config=configs/finetune.py --config.data_dir=DATASET --workdir=RUN \\
      --config.init_from=BASE_RUN

Re-running a command with the same --workdir resumes from its latest checkpoint. --config.init_from
takes a workdir, a checkpoint folder or the output of dfrf-import-torch (the authors' .tar).

Several hosts: start the same command on every host with --coordinator_address=HOST:PORT,
--num_processes=K and --process_id=0..K-1 (jax.distributed.initialize); the rays of each step are
split over all devices of all hosts.
"""

from absl import app, flags
import jax

from dfrf_jax import api
from dfrf_jax.cli import define_config_flag, run_cli
from dfrf_jax.train import progress

_CONFIG = define_config_flag(
    'config', 'Config file, or the name of a shipped one (base, finetune, demo, test); override '
    'fields with --config.<field>=value.')
_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Run folder: checkpoints/, TensorBoard summaries, metrics.jsonl. An existing '
    'run folder is resumed.')
_COORDINATOR = flags.DEFINE_string(
    'coordinator_address', None, 'Multi-host only: HOST:PORT of process 0, for '
    'jax.distributed.initialize.')
_NUM_PROCESSES = flags.DEFINE_integer('num_processes', None, 'Multi-host only: number of hosts.')
_PROCESS_ID = flags.DEFINE_integer('process_id', None, 'Multi-host only: this host, 0..K-1.')


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  progress.hide_orbax_info_logs()
  if _COORDINATOR.value is not None:
    jax.distributed.initialize(coordinator_address=_COORDINATOR.value,
                               num_processes=_NUM_PROCESSES.value, process_id=_PROCESS_ID.value)
  api.train(_CONFIG.value, _WORKDIR.value)


def run() -> None:
  """Console-script entry point."""
  run_cli(main, __doc__, ['config', 'workdir', 'coordinator_address', 'num_processes',
                          'process_id'], ['config', 'workdir'])


if __name__ == '__main__':
  run()
