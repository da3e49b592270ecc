"""Host-side budget rules: the first budget and the next one from measured requests."""

import jax.numpy as jnp
import ml_collections
import pytest

from dfrf_jax.render import accelerated
from tests.render.conftest import tiny_config


def _stats(coarse, fine, coarse_capacity=None, fine_capacity=None):
  """Stats of segments holding 10^6 samples each unless capacities are given."""
  zero = jnp.zeros((), jnp.int32)
  full = lambda counts, capacity: jnp.array(
      [10**6] * len(counts) if capacity is None else capacity, jnp.int32)
  return accelerated.MarchStats(coarse_requested=jnp.array(coarse, jnp.int32),
                                fine_requested=jnp.array(fine, jnp.int32),
                                coarse_capacity=full(coarse, coarse_capacity),
                                fine_capacity=full(fine, fine_capacity), coarse_evaluated=zero,
                                fine_evaluated=zero, fine_reused=zero, fine_interpolated=zero,
                                fine_unbracketed=zero, coarse_interpolated=zero, overflow=zero,
                                rays_skipped=zero)


def test_fit_budget_applies_headroom_and_rounds_up():
  got = accelerated.fit_budget(_stats([0, 100, 640], [1000]), headroom=1.25, granularity=64)
  # 0 -> one granule; 125 -> 128; 800 -> 832; 1250 -> 1280.
  assert got == accelerated.SampleBudget(coarse=(64, 128, 832), fine=(1280,))


def test_budget_of_a_small_segment_is_finer_and_never_above_its_samples():
  # A train step's segment of 1024 samples: steps of 1024 / 8 = 128, not the granularity of 1024.
  got = accelerated.fit_budget(_stats([300, 1000], [10], [1024, 1024], [10**5]), headroom=1.2,
                               granularity=1024)
  # 360 -> 384; 1200 -> 1280, capped at the segment's 1024; 12 -> one granule of 1024.
  assert got == accelerated.SampleBudget(coarse=(384, 1024), fine=(1024,))


def test_initial_budget_covers_a_fraction_of_each_segment():
  c = tiny_config()
  c.render.accel.num_segments = 3
  c.render.accel.initial_fraction = 0.5
  c.render.accel.budget_granularity = 8
  got = accelerated.initial_budget(10, ml_collections.FrozenConfigDict(c.render))
  # Coarse: 15 inner samples in segments of 5, 5, 5 (x 10 rays: 50 samples each, so steps of
  # ceil(50 / 8) = 7 rather than 8): 25 -> 28. Fine: 31 in 10, 11, 10 (100, 110, 100 samples, steps
  # of 8): 50, 55, 50 -> 56.
  assert got == accelerated.SampleBudget(coarse=(28, 28, 28), fine=(56, 56, 56))


@pytest.mark.parametrize('train, threshold, segments', [(True, 0.0, 1), (True, 1e-3, 3),
                                                        (False, 0.0, 1), (False, 1e-3, 3)])
def test_passes_have_one_segment_where_rays_do_not_terminate(train, threshold, segments):
  c = tiny_config()
  c.render.accel.num_segments = 3
  # The other mode's threshold is set the other way, so the test tells which one is read.
  c.render.accel.train_termination_threshold = threshold if train else 1e-3 - threshold
  c.render.accel.termination_threshold = 1e-3 - threshold if train else threshold
  got = accelerated.initial_budget(10, ml_collections.FrozenConfigDict(c.render), train=train)
  assert (len(got.coarse), len(got.fine)) == (segments, segments)
  assert accelerated.num_segments(c.render, train) == segments


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


def test_kept_budgets_of_training_selection_start_at_a_fraction_and_refit_from_the_selection():
  c = tiny_config()
  c.render.accel.train_selection = True
  c.render.accel.initial_fraction = 0.5
  c.render.accel.budget_granularity = 8
  rc = ml_collections.FrozenConfigDict(c.render)
  # 10 rays: 150 coarse and 310 fine samples evaluated at most (steps of 8): 75 -> 80, 155 -> 160.
  assert accelerated.initial_budget(10, rc, train=True).kept == (80, 160)
  assert accelerated.initial_budget(10, rc, train=False).kept == ()  # rendering never selects
  stats = _stats([100], [200]).replace(kept_requested=jnp.array([30, 70], jnp.int32),
                                       kept_capacity=jnp.array([1000, 2000], jnp.int32))
  # 30 x 1.25 = 37.5 -> 40; 87.5 -> 88.
  got = accelerated.fit_budget(stats, headroom=1.25, granularity=8)
  assert got == accelerated.SampleBudget(coarse=(128,), fine=(256,), kept=(40, 88))
