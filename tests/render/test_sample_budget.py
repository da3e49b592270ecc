"""Host-side budget rules: the first budget and the next one from measured requests."""

import jax.numpy as jnp
import ml_collections

from dfrf_jax.render import accelerated
from tests.render.conftest import tiny_config


def _stats(coarse, fine):
  zero = jnp.zeros((), jnp.int32)
  return accelerated.MarchStats(coarse_requested=jnp.array(coarse, jnp.int32),
                                fine_requested=jnp.array(fine, jnp.int32), coarse_evaluated=zero,
                                fine_evaluated=zero, overflow=zero, rays_skipped=zero)


def test_fit_budget_applies_headroom_and_rounds_up():
  got = accelerated.fit_budget(_stats([0, 100, 640], [1000]), headroom=1.25, granularity=64)
  # 0 -> one granule; 125 -> 128; 800 -> 832; 1250 -> 1280.
  assert got == accelerated.SampleBudget(coarse=(64, 128, 832), fine=(1280,))


def test_initial_budget_covers_a_fraction_of_each_segment():
  c = tiny_config()
  c.render.accel.num_segments = 3
  c.render.accel.initial_fraction = 0.5
  c.render.accel.budget_granularity = 8
  got = accelerated.initial_budget(10, ml_collections.FrozenConfigDict(c.render))
  # Coarse: 15 inner samples in segments of 5, 5, 5; fine: 31 in 10, 11, 10 (x 10 rays x 0.5).
  assert got == accelerated.SampleBudget(coarse=(32, 32, 32), fine=(56, 56, 56))


def _overflowing(coarse, fine, overflow):
  return _stats(coarse, fine).replace(overflow=jnp.array(overflow, jnp.int32))


def test_adapt_budget_grows_on_overflow_and_shrinks_only_when_far_above_need():
  budget = accelerated.SampleBudget(coarse=(256,), fine=(512,))
  adapt = lambda stats: accelerated.adapt_budget(budget, stats, headroom=1.5, granularity=64)
  # Dropped samples: 300 * 1.5 = 450 -> 512, 500 * 1.5 = 750 -> 768.
  assert adapt(_overflowing([300], [500], 44)) == accelerated.SampleBudget(coarse=(512,), fine=(768,))
  # Fits, fitted total 192 + 384 = 576 >= half of 768: unchanged (no recompilation).
  assert adapt(_stats([120], [250])) is budget
  # Fits, fitted total 64 + 128 = 192 < 384: shrinks to the fitted budget.
  assert adapt(_stats([10], [80])) == accelerated.SampleBudget(coarse=(64,), fine=(128,))
