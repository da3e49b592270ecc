"""Reports training progress: a tqdm bar, TensorBoard summaries and a JSON-lines metrics file."""

import json
import logging
import os
from collections.abc import Mapping

from absl import logging as absl_logging
import numpy as np
import tensorboardX
import tqdm

METRICS_FILE = 'metrics.jsonl'


class Reporter:
  """Writes what the training loop measures; only process 0 of a multi-host run should make one.

  Args:
    workdir: the run folder (`metrics.jsonl` and the TensorBoard event files go there).
    start_step: the step the run starts at.
    last_step: the step it ends at (config.train.N_iters).
  """

  def __init__(self, workdir: str, start_step: int, last_step: int):
    self._writer = tensorboardX.SummaryWriter(workdir)
    self._metrics = open(os.path.join(workdir, METRICS_FILE), 'a')
    self._bar = tqdm.tqdm(total=last_step, initial=start_step, unit='step', dynamic_ncols=True,
                          smoothing=0.1)

  def advance(self, steps: int = 1) -> None:
    """The bar moves on by `steps` (its rate is the steps/s; it shows the ETA)."""
    self._bar.update(steps)

  def scalars(self, step: int, values: Mapping[str, float]) -> None:
    """Logs scalars of `step` to the bar, TensorBoard (`train/<name>`) and metrics.jsonl."""
    values = {k: float(v) for k, v in values.items()}
    self._bar.set_postfix(loss=f'{values["loss"]:.4g}', psnr=f'{values["psnr"]:.2f}',
                          psnr0=f'{values["psnr0"]:.2f}', refresh=False)
    for name, value in values.items():
      self._writer.add_scalar(f'train/{name}', value, step)
    self._metrics.write(json.dumps({'step': step, **values}) + '\n')
    self._metrics.flush()

  def image(self, step: int, name: str, image: np.ndarray, values: Mapping[str, float]) -> None:
    """Logs an [H, W, 3] image in [0, 1] and its scalars (`val/<name>`)."""
    self._writer.add_image(f'val/{name}', np.clip(image, 0.0, 1.0), step, dataformats='HWC')
    for key, value in values.items():
      self._writer.add_scalar(f'val/{key}', float(value), step)
    self._metrics.write(json.dumps({'step': step, **{f'val_{k}': float(v)
                                                      for k, v in values.items()}}) + '\n')
    self._metrics.flush()

  def close(self) -> None:
    self._bar.close()
    self._writer.close()
    self._metrics.close()


class _HideOrbaxInfo(logging.Filter):

  def filter(self, record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING or f'{os.sep}orbax{os.sep}' not in record.pathname


def hide_orbax_info_logs() -> None:
  """Drops orbax's INFO lines (a dozen per checkpoint) from the absl log; its warnings still show."""
  absl_logging.get_absl_handler().addFilter(_HideOrbaxInfo())
