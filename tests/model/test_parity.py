"""The port against the authors' code: every recorded intermediate of the parity fixture, from their checkpoint.

tests/fixtures/parity holds a checkpoint written by the authors' PyTorch code (netwidth 128, 60 iterations),
the inputs given to their functions and what each function returned (see its README and JSON). Every
array must be reproduced to 1e-4 relative error (float32, CPU).
"""

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dfrf_jax.config import default_config
from dfrf_jax.model.dfrf import DFRF, build_model
from dfrf_jax.model.encoding import positional_encoding
from dfrf_jax.model.projection import project_to_references
from dfrf_jax.model.torch_import import read_torch_checkpoint, torch_to_flax
from dfrf_jax.render import cameras
from dfrf_jax.render.renderer import frame_inputs, render_image, render_rays
from dfrf_jax.train.losses import offset_regularizer
import ml_collections

FIXTURE = pathlib.Path(__file__).parents[1] / 'fixtures' / 'parity'
NEAR, FAR = 0.5983765306624147, 1.1983765306624146
SIZE = 64


def assert_close(got, want, rtol=1e-4):
  """Elementwise 1e-4 relative error, with an absolute floor of 1e-4 of the array's scale for ~0 entries."""
  got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
  assert got.shape == want.shape, (got.shape, want.shape)
  np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * max(np.abs(want).max(), 1e-6))


@pytest.fixture(scope='module')
def ref():
  return dict(np.load(FIXTURE / 'dfrf_parity.npz'))


@pytest.fixture(scope='module')
def config():
  c = default_config()
  c.model.netwidth = c.model.netwidth_fine = 128
  c.render.N_samples, c.render.N_importance = 32, 64
  c.render.near, c.render.far = NEAR, FAR
  return c


@pytest.fixture(scope='module')
def model(config):
  return build_model(config.model)


@pytest.fixture(scope='module')
def params():
  p, _ = torch_to_flax(read_torch_checkpoint(FIXTURE / '000060_head.tar'))
  return p


@pytest.fixture(scope='module')
def features(model, params, ref):
  return model.apply({'params': params}, ref['ref_images'], ref['ref_poses'],
                     method=DFRF.reference_features)


def _apply(model, params, *args, method):
  return model.apply({'params': params}, *args, method=method)


def test_positional_encodings(ref):
  assert_close(positional_encoding(ref['pe_xyz_in'], 10), ref['pe_xyz_out'])
  assert_close(positional_encoding(ref['pe_dir_in'], 4), ref['pe_dir_out'])
  assert_close(positional_encoding(ref['pe_rgb_in'], 5), ref['pe_rgb_out'])


def test_audio_net(model, params, ref):
  assert_close(_apply(model, params, ref['audnet_in'], method=DFRF.encode_audio), ref['audnet_out'])


@pytest.mark.parametrize('prefix', ['audatt', 'audatt_rand'])
def test_audio_att_net(model, params, ref, prefix):
  codes = ref[f'{prefix}_in']
  smooth = jax.vmap(lambda c: _apply(model, params, c, method=DFRF.smooth_audio))
  out, weights = smooth(codes)
  assert_close(weights, ref[f'{prefix}_weights'])
  assert_close(out, ref[f'{prefix}_out'])


def test_audio_pipeline_gives_the_render_code(model, params, ref):
  windows = ref['audatt_in_aud'][list(ref['audatt_centers']).index(2)]
  codes = _apply(model, params, windows, method=DFRF.encode_audio)
  assert_close(codes, ref['audatt_in'][1])
  code, _ = _apply(model, params, codes, method=DFRF.smooth_audio)
  assert_close(code, ref['aud_para'])


def test_reference_features(features, ref):
  rows = ref['featnet_sub_rows']
  assert_close(positional_encoding(jnp.asarray(ref['ref_poses'])[:, :, 3], 5),
               ref['featnet_in_viewpoint_emb'])
  assert_close(np.asarray(features)[:, rows][:, :, rows], ref['featnet_out_sub'])


def test_projection(ref):
  got = project_to_references(ref['proj_in'], ref['ref_poses'], float(ref['intrinsic'][0, 0]), SIZE, SIZE)
  assert_close(got, ref['proj_out'])


def test_rays(ref):
  o, d = cameras.pixel_rays(ref['ray_pixels'], ref['target_pose'], 140.8, 32.0, 32.0)
  assert_close(o, ref['rays_o'])
  assert_close(d, ref['rays_d'])


@pytest.mark.parametrize('stage', ['coarse', 'fine'])
def test_query_intermediates(model, params, features, ref, stage):
  points = ref[f'{stage}_pts'].reshape(-1, 3)
  num_samples = ref[f'{stage}_pts'].shape[1]
  viewdirs = ref['rays_d'] / np.linalg.norm(ref['rays_d'], axis=-1, keepdims=True)
  viewdirs = np.repeat(viewdirs, num_samples, axis=0)
  out, state = model.apply(
      {'params': params}, points, viewdirs, ref['aud_para'], features, ref['ref_poses'],
      float(ref['intrinsic'][0, 0]), ref[f'{stage}_slot_noise'], stage == 'fine',
      method=DFRF.query, mutable=['intermediates'])
  inter = {name: values[0] for name, values in state['intermediates'].items()}
  assert_close(inter['proj'], ref[f'{stage}_proj'])
  assert_close(out.offsets, ref[f'{stage}_warp_offset'])
  assert_close(jnp.mean(out.offsets ** 2, 0), ref[f'{stage}_loss_translation_pts'])
  assert_close(inter['fused'], ref[f'{stage}_slot_out'])
  assert_close(out.raw.reshape(ref[f'{stage}_raw'].shape), ref[f'{stage}_raw'])
  if stage == 'coarse':
    assert_close(inter['nearest_features'], ref['coarse_warp_in_feat'])
    assert_close(positional_encoding(points, 10), ref['coarse_warp_in_pts'])
    assert_close(inter['tokens'], ref['coarse_local'])
    decoder_in = np.concatenate([inter['point_inputs'], positional_encoding(viewdirs, 4)], -1)
    assert_close(decoder_in, ref['coarse_decoder_in'])
    assert_close(decoder_in[:, 256:], ref['coarse_nerf_inputs'])


def test_offset_regularizer(ref):
  offsets = ref['fine_warp_offset'].reshape(4, 8, 96, 2)
  got = offset_regularizer(offsets, ref['fine_weights'], ref['fine_z_vals'],
                           ref['fine_raw'][..., 3], 'code')
  assert_close(got, ref['render_loss_translation'])


def _mean_slot_model(config):
  c = ml_collections.ConfigDict(config.to_dict())
  c.model.slot_init = 'mean'
  return build_model(c.model), ml_collections.FrozenConfigDict(c.render)


def test_render_rays_without_slot_noise(config, params, ref):
  model, render_config = _mean_slot_model(config)
  frame = frame_inputs(model, params, ref['aud_para'], ref['ref_images'], ref['ref_poses'], 140.8)
  pixels = ref['render0_pixels']
  o, d = cameras.pixel_rays(pixels, ref['target_pose'], 140.8, 32.0, 32.0)
  bg = ref['target_torso'][pixels[:, 0], pixels[:, 1]]
  out = render_rays(model, params, frame, o, d, bg, NEAR, FAR, render_config, None, train=False)
  assert_close(out.fine.rgb, ref['render0_rgb'])
  assert_close(out.fine.disp, ref['render0_disp'])
  assert_close(out.fine.acc, ref['render0_acc'])
  assert_close(out.fine.depth, ref['render0_depth'])
  assert_close(out.fine.last_weight, ref['render0_last_weight'])
  assert_close(out.coarse.rgb, ref['render0_rgb0'])
  assert_close(out.coarse.disp, ref['render0_disp0'])
  assert_close(out.coarse.acc, ref['render0_acc0'])
  assert_close(out.coarse.depth, ref['render0_depth0'])
  assert_close(out.z_std, ref['render0_z_std'])


def test_render_full_frame_without_slot_noise(config, params, ref):
  model, render_config = _mean_slot_model(config)
  frame = frame_inputs(model, params, ref['aud_para'], ref['ref_images'], ref['ref_poses'], 140.8)
  out = render_image(model, params, frame, jnp.asarray(ref['target_pose']), ref['target_torso'],
                     jnp.array([140.8, 32.0, 32.0]), NEAR, FAR, None, height=SIZE, width=SIZE,
                     render_config=render_config, chunk=1024)
  assert_close(out.rgb, ref['frame0_rgb'])
  assert_close(out.disp, ref['frame0_disp'])
  assert_close(out.acc, ref['frame0_acc'])
  assert_close(out.last_weight, ref['frame0_last_weight'])
  assert_close(out.rgb0, ref['frame0_rgb0'])
  assert_close(out.acc0, ref['frame0_acc0'])
  psnr = -10 * np.log10(np.mean((np.asarray(out.rgb) - ref['target_rgb']) ** 2))
  np.testing.assert_allclose(psnr, ref['frame0_psnr'], atol=1e-3)
