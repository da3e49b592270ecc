"""Sampling and compositing reproduce the authors' recorded intermediates (tests/fixtures/parity)."""

import json
import pathlib

import jax.numpy as jnp
import numpy as np
import pytest

from dfrf_jax.render import compositing
from dfrf_jax.render import sampling

_PARITY = pathlib.Path(__file__).resolve().parents[1] / 'fixtures' / 'parity'
_TOL = {'rtol': 1e-4, 'atol': 1e-6}


@pytest.fixture(scope='module')
def fixture() -> dict[str, np.ndarray]:
  with np.load(_PARITY / 'dfrf_parity.npz') as arrays:
    return dict(arrays)


@pytest.fixture(scope='module')
def config() -> dict:
  return json.loads((_PARITY / 'dfrf_parity.json').read_text())['config']


def test_sample_pdf_reproduces_recorded_samples(fixture):
  got = sampling.sample_pdf(jnp.asarray(fixture['pdf_bins']), jnp.asarray(fixture['pdf_weights']),
                            fixture['pdf_samples'].shape[1])
  np.testing.assert_allclose(np.asarray(got), fixture['pdf_samples'], **_TOL)


def test_coarse_z_reproduces_recorded_depths_and_points(fixture, config):
  num_rays = fixture['rays_o'].shape[0]
  z = sampling.coarse_z(jnp.full((num_rays,), config['near']), jnp.full((num_rays,), config['far']),
                        config['N_samples'], lindisp=config['lindisp'])
  np.testing.assert_allclose(np.asarray(z), fixture['coarse_z_vals'], **_TOL)
  pts = fixture['rays_o'][:, None] + fixture['rays_d'][:, None] * np.asarray(z)[..., None]
  np.testing.assert_allclose(pts, fixture['coarse_pts'], **_TOL)


def test_fine_z_reproduces_recorded_depths(fixture, config):
  z = sampling.fine_z(jnp.asarray(fixture['coarse_z_vals']),
                      jnp.asarray(fixture['coarse_weights']), config['N_importance']).z
  np.testing.assert_allclose(np.asarray(z), fixture['fine_z_vals'], **_TOL)
  pts = fixture['rays_o'][:, None] + fixture['rays_d'][:, None] * np.asarray(z)[..., None]
  np.testing.assert_allclose(pts, fixture['fine_pts'], **_TOL)


@pytest.mark.parametrize('stage', ['coarse', 'fine'])
def test_composite_reproduces_recorded_outputs(fixture, config, stage):
  out = compositing.composite(
      jnp.asarray(fixture[f'{stage}_raw']), jnp.asarray(fixture[f'{stage}_z_vals']),
      jnp.asarray(fixture['rays_d']), jnp.asarray(fixture['rays_bc_rgb']),
      white_bkgd=config['white_bkgd'])
  suffix = '0' if stage == 'coarse' else ''
  want = {'weights': fixture[f'{stage}_weights'], 'depth': fixture[f'{stage}_depth'],
          'rgb': fixture[f'render_rgb{suffix}'], 'disp': fixture[f'render_disp{suffix}'],
          'acc': fixture[f'render_acc{suffix}']}
  if stage == 'fine':
    want['last_weight'] = fixture['render_last_weight']
  for name, value in want.items():
    np.testing.assert_allclose(np.asarray(getattr(out, name)), value, err_msg=name, **_TOL)
