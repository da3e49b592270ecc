"""Host batches: contents against the dataset, mouth rays, replay from a saved Generator state, prefetching, sharding."""

import dataclasses

import jax
import numpy as np
import pytest

from dfrf_jax.data import ray_sampling
from dfrf_jax.data.dataset import load_dataset
from dfrf_jax.train import batches, loop
from tests.train.conftest import DATASET, tiny_config


def test_batch_holds_the_frame_pixels_and_train_references():
  config = tiny_config()
  identities = load_dataset(DATASET)
  identity = identities[0]
  batch = batches.draw_batch(np.random.default_rng(3), identities, config)
  n, refs = batches.rays_per_step(config), config.model.num_reference_images
  assert batch.pixels.shape == (n, 2) and batch.target.shape == (n, 3)
  assert batch.ref_images.shape == (refs, 64, 64, 3)
  # The target frame is the train frame whose pose the batch carries.
  frame = int(np.flatnonzero(np.all(identity.train.poses == batch.c2w, axis=(1, 2)))[0])
  rows, cols = batch.pixels[:, 0].astype(int), batch.pixels[:, 1].astype(int)
  np.testing.assert_array_equal(batch.target, identity.image(identity.train, frame)[rows, cols])
  np.testing.assert_array_equal(batch.bg, identity.background(identity.train, frame)[rows, cols])
  np.testing.assert_array_equal(batch.aud[config.model.smo_size // 2],
                                identity.aud[identity.train.aud_ids[frame]])
  for image, pose in zip(batch.ref_images, batch.ref_poses):
    ref = int(np.flatnonzero(np.all(identity.train.poses == pose, axis=(1, 2)))[0])
    assert ref != frame
    np.testing.assert_array_equal(image, identity.image(identity.train, ref))


def _drawn(seed: int, **data_fields):
  """(config, identities, batch, its train frame) of a tiny-config batch with `data_fields` set."""
  config = tiny_config()
  for name, value in data_fields.items():
    config.data[name] = value
  identities = load_dataset(DATASET)
  batch = batches.draw_batch(np.random.default_rng(seed), identities, config)
  poses = identities[0].train.poses
  return config, identities, batch, int(np.flatnonzero(np.all(poses == batch.c2w, axis=(1, 2)))[0])


def test_mouth_share_draws_inside_the_frames_lip_rect():
  config, identities, batch, frame = _drawn(4, lip_sample_rate=0.25)
  x, y, w, h = identities[0].train.lip_rects[frame]
  n_lip = int(config.data.N_rand * 0.25)
  rows, cols = batch.pixels[:n_lip, 0], batch.pixels[:n_lip, 1]
  assert ((y <= rows) & (rows <= y + h) & (x <= cols) & (cols <= x + w)).all()


def test_extra_outside_rays_lengthen_the_batch_outside_the_face_rect():
  config, identities, batch, frame = _drawn(5, extra_outside_rate=0.25)
  n = config.data.N_rand
  rays = batches.rays_per_step(config)
  assert rays == n + n // 4 and batch.pixels.shape == (rays, 2) and batch.bg.shape == (rays, 3)
  inside = ray_sampling.face_rect_mask(64, 64, identities[0].train.face_rects[frame],
                                       config.data.face_rect_transposed)
  rows, cols = batch.pixels[:, 0].astype(int), batch.pixels[:, 1].astype(int)
  n_face = int(n * config.data.sample_rate)
  assert inside[rows[:n_face], cols[:n_face]].all() and not inside[rows[n_face:], cols[n_face:]].any()
  # The run without extra rays draws the same frame, references and first N_rand pixels.
  config.data.extra_outside_rate = 0.0
  authors = batches.draw_batch(np.random.default_rng(5), identities, config)
  for name in ('c2w', 'aud', 'ref_images', 'ref_poses'):
    np.testing.assert_array_equal(getattr(batch, name), getattr(authors, name))
  np.testing.assert_array_equal(batch.pixels[:n], authors.pixels)


def test_extra_outside_rays_round_up_to_split_over_the_devices():
  # 64 rays at 0.05: 3 extra rays give 67, which 2 devices cannot split; a fourth is drawn.
  config, identities, one, frame = _drawn(3, N_rand=64, extra_outside_rate=0.05)
  two = batches.draw_batch(np.random.default_rng(3), identities, config, num_devices=2)
  assert one.pixels.shape == (67, 2) and two.pixels.shape == (68, 2) and two.target.shape == (68, 3)
  assert batches.rays_per_step(config, 2) == 68 and batches.rays_per_step(config, 4) == 68
  np.testing.assert_array_equal(two.pixels[:64], one.pixels[:64])
  inside = ray_sampling.face_rect_mask(64, 64, identities[0].train.face_rects[frame],
                                       config.data.face_rect_transposed)
  rows, cols = two.pixels[64:, 0].astype(int), two.pixels[64:, 1].astype(int)
  assert not inside[rows, cols].any() and len({tuple(p) for p in two.pixels.tolist()}) == 68
  shards = batches.shard(two, loop.make_mesh(2)).pixels.addressable_shards
  assert [s.data.shape for s in shards] == [(34, 2), (34, 2)]


def test_mouth_share_without_lip_rects_names_the_file(tmp_path):
  config = tiny_config()
  config.data.lip_sample_rate = 0.25
  identity = load_dataset(DATASET)[0]
  bare = dataclasses.replace(identity, train=dataclasses.replace(identity.train, lip_rects=None))
  with pytest.raises(ValueError, match=r'transforms_train.json: frames have no lip_rect, which '
                     r'config.data.lip_sample_rate = 0.25 needs'):
    batches.draw_batch(np.random.default_rng(0), [bare], config)


def test_saved_generator_state_replays_the_stream():
  config = tiny_config()
  identities = load_dataset(DATASET)
  stream = batches.batches(np.random.default_rng(0), identities, config)
  _, state = next(stream)
  expected, _ = next(stream)
  replayed, _ = next(batches.batches(batches.rng_from_state(state), identities, config))
  for name in ('pixels', 'target', 'c2w', 'ref_poses', 'aud'):
    np.testing.assert_array_equal(getattr(replayed, name), getattr(expected, name))


def test_prefetch_keeps_order_and_reraises():
  def numbers():
    yield from range(5)
    raise RuntimeError('data failed')

  stream = batches.prefetch(numbers(), 2)
  assert [next(stream) for _ in range(5)] == list(range(5))
  with pytest.raises(RuntimeError, match='data failed'):
    next(stream)


def test_shard_splits_rays_and_replicates_the_rest():
  config = tiny_config()
  batch = batches.draw_batch(np.random.default_rng(0), load_dataset(DATASET), config)
  placed = batches.shard(batch, loop.make_mesh(2))
  half = batches.rays_per_step(config) // 2
  shards = placed.pixels.addressable_shards
  assert len(shards) == 2 and all(s.data.shape == (half, 2) for s in shards)
  np.testing.assert_array_equal(np.asarray(shards[1].data), batch.pixels[half:])
  assert all(s.data.shape == batch.ref_images.shape for s in placed.ref_images.addressable_shards)
  np.testing.assert_array_equal(jax.device_get(placed.ref_images), batch.ref_images)
