"""Noticing a radiance field that renders nothing while training (a "dead field").

Density is relu(sigma). A field whose raw density sigma is negative on every sample it sees gets no
gradient through its density, and its colour gets none either (every weight but the background
sample's is ~0): it renders the background plate and stays there. From scratch this happened to one
of the two fields in about half of all runs, in the authors' code too (docs/training.md, "Dead
fields"); `train.step.density_noise_rule` and `gradient_revival_rule` revive such a field, and this
monitor stops a run where one stays dead anyway, since the loss still falls (the other field
learns) and nothing else would tell.

A field counts as dead once its training PSNR has stayed within `train.dead_field_min_gain_db` of
the batch's background plate alone (the step metric psnr_bg) for `train.dead_field_patience`
consecutive steps.
"""

import dataclasses
from collections.abc import Mapping

from dfrf_jax.errors import UserError

# (field, its PSNR metric, its live-share metric) as `train.step` names them.
FIELDS = (('coarse', 'psnr0', 'live0'), ('fine', 'psnr', 'live'))


class DeadFieldError(UserError, RuntimeError):
  """A radiance field has rendered only the background for `train.dead_field_patience` steps."""


@dataclasses.dataclass
class DeadFieldMonitor:
  """Counts, per field, the consecutive steps it has spent at the background level.

  Attributes:
    patience: steps a field may stay at the background level (0: never raise).
    min_gain_db: how far above the background plate's PSNR a field must be to count as learning.
  """
  patience: int
  min_gain_db: float
  _since: dict[str, int] = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    if self.patience < 0:
      raise ValueError(f'config.train.dead_field_patience = {self.patience}, expected >= 0 '
                       '(0 turns the check off)')

  def update(self, step: int, values: Mapping[str, float]) -> None:
    """Takes the metrics of global step `step` (0-based); raises DeadFieldError for a dead field."""
    if not self.patience:
      return
    for name, psnr_key, live_key in FIELDS:
      if values[psnr_key] - values['psnr_bg'] >= self.min_gain_db:
        self._since.pop(name, None)
        continue
      since = self._since.setdefault(name, step)
      if step - since + 1 >= self.patience:
        raise DeadFieldError(
            f'step {step + 1}: the {name} field has rendered only the background plate for '
            f'{step - since + 1} steps (training PSNR {values[psnr_key]:.2f} dB, background alone '
            f'{values["psnr_bg"]:.2f} dB; {values[live_key]:.1%} of its samples have positive '
            'density), so it gets no gradient and will not learn. Train again with another '
            '--config.seed (see docs/training.md, '
            '"Dead fields"); --config.train.dead_field_patience=0 turns this check off.')
