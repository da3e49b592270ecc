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


def _with_overflow(stats, overflow):
  return stats.replace(overflow=jnp.asarray(overflow, jnp.int32))


def test_next_budget_grows_on_overflow_shrinks_when_far_too_large_else_keeps():
  budget = accelerated.SampleBudget(coarse=(256,), fine=(512,))
  refit = lambda stats: accelerated.next_budget(budget, stats, headroom=1.0, granularity=64,
                                                shrink_below=0.5)
  # Overflow: the refit budget, whatever its size.
  assert refit(_with_overflow(_stats([300], [400]), 44)) == accelerated.SampleBudget((320,), (448,))
  # Enough, and the refit total (64 + 320 = 384) is not below half of 768: kept (no recompilation).
  assert refit(_stats([10], [300])) is budget
  # Enough, and the refit total (64 + 256 = 320) is below half of 768: shrunk.
  assert refit(_stats([10], [200])) == accelerated.SampleBudget((64,), (256,))
