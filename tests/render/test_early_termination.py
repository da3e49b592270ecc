"""Early ray termination changes a pixel by at most the transmittance threshold."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from dfrf_jax.render import accelerated
from tests.render.conftest import all_occupied, make_scene, march_scene, tiny_config

THRESHOLD = 0.02


# Rendering reads accel.termination_threshold, a train step accel.train_termination_threshold; the
# other field is set to 0, so a run that read the wrong one would terminate nothing. With
# reuse_coarse_features the fine pass queries only importance samples, most of them in front of
# the surface, so termination cuts fewer queries there.
@pytest.mark.parametrize('train, reuse', [(False, False), (False, True), (True, False)],
                         ids=['render', 'render-reuse', 'train'])
def test_termination_error_is_bounded_by_the_threshold(train, reuse):
  # Denser fields, so that rays do become opaque before the far bound.
  scene = make_scene(tiny_config(), density_bias=10.0)
  # One coarse segment (nothing to terminate there), so both runs share the fine depths.
  state = all_occupied(scene, accelerated.SampleBudget(coarse=(1024,), fine=(512,) * 4))

  def render(threshold):
    c = ml_collections.ConfigDict(scene.render_config.to_dict())
    c.accel.termination_threshold = 0.0 if train else threshold
    c.accel.train_termination_threshold = threshold if train else 0.0
    c.accel.reuse_coarse_features = reuse
    rc = ml_collections.FrozenConfigDict(c)
    return jax.jit(lambda p: march_scene(scene, p, rc, None, train, state))(scene.params)

  full, full_stats = render(0.0)
  cut, cut_stats = render(THRESHOLD)
  assert int(full_stats.overflow) == int(cut_stats.overflow) == 0
  np.testing.assert_array_equal(cut.z_fine, full.z_fine)
  # Termination did happen, for a good share of the fine samples ...
  share = 0.95 if reuse else 0.8
  assert int(cut_stats.fine_evaluated) < share * int(full_stats.fine_evaluated)
  # ... and moved no colour by more than the transmittance left behind.
  diff = float(jnp.max(jnp.abs(cut.fine.rgb - full.fine.rgb)))
  assert diff <= THRESHOLD + 1e-6
