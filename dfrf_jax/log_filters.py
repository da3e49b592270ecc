"""Drops two library log lines that mislead in every run; every other record still shows.

- orbax's WARNING "Given directory is read only=DIR": our checkpoint *readers* open folders with
  `read_only=True` on purpose (`train/checkpoints.py`), the folders themselves are writable.
- JAX's INFO "Unable to initialize backend 'tpu': ... libtpu.so ...": JAX probes for a TPU on every
  machine; on a CPU or GPU machine the failed probe is expected. Other backends' failures show.
"""

import logging

from absl import logging as absl_logging


class _MisleadingRecords(logging.Filter):
  """Rejects the two records of the module docstring."""

  def filter(self, record: logging.LogRecord) -> bool:
    message = record.getMessage()
    if message.startswith('Given directory is read only=') and 'orbax' in record.pathname:
      return False
    if (record.levelno < logging.WARNING and record.name.startswith('jax')
        and message.startswith("Unable to initialize backend 'tpu'")):
      return False
    return True


_FILTER = _MisleadingRecords()


def hide_misleading_logs() -> None:
  """Installs the filter on absl's handler, which prints every record of a command-line tool."""
  absl_logging.get_absl_handler().addFilter(_FILTER)
