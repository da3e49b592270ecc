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
