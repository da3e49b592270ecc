"""Training batches drawn on the host as the authors' `train()` does, prepared ahead in a thread.

One batch is one frame: an identity uniformly, then one of its train frames uniformly, its references
(`training_references`), N_rand pixels (`sample_ray_pixels`, face_rect and lip_rect shares, plus
extra outside rays with data.extra_outside_rate), the target and background
colours at those pixels and the frame's 8-frame audio window. All randomness comes from one numpy
Generator, whose bit_generator state after each batch is returned with it, so a checkpoint can record
where the stream stands and a resumed run draws the same batches.
"""

import dataclasses
import queue
import threading
from collections.abc import Iterator
from typing import Any, TypeVar

import chex
import flax.struct
import jax
import ml_collections
import numpy as np

from dfrf_jax.data.audio_windows import smoothing_window
from dfrf_jax.data.dataset import Identity, split_aud_windows
from dfrf_jax.data.errors import DatasetError
from dfrf_jax.data.ray_sampling import face_ray_count, ray_count, sample_ray_pixels
from dfrf_jax.data.references import training_references

T = TypeVar('T')

# Batch fields split over devices along their first (ray) axis; the others are replicated.
RAY_FIELDS = ('pixels', 'target', 'bg')


@flax.struct.dataclass
class Batch:
  """One training step's inputs (R rays of one frame seen by N references).

  pixels: [R, 2] float32 (row, col) of the rays; target, bg: [R, 3] colours in [0, 1] of the frame and
    of its torso/background plate at those pixels.
  c2w: [3, 4] target camera. intrinsics: [3] (focal, cx, cy) in pixels.
  aud: [smo_size, 16, D] DeepSpeech windows of train frames i-smo/2 .. i+smo/2-1 (zero outside the train
    list); row smo_size // 2 is the frame's own window.
  ref_images: [N, H, W, 3] in [0, 1]. ref_poses: [N, 3, 4].
  """
  pixels: Any
  target: Any
  bg: Any
  c2w: Any
  intrinsics: Any
  aud: Any
  ref_images: Any
  ref_poses: Any


def draw_batch(rng: np.random.Generator, identities: list[Identity],
               config: ml_collections.ConfigDict, num_devices: int = 1) -> Batch:
  """Draws one batch (numpy arrays) as the authors' training loop does.

  `num_devices`: the devices its rays are split over (`rays_per_step`).
  """
  identity = identities[rng.integers(len(identities))]
  train = identity.train
  target = int(rng.integers(len(train)))
  refs = training_references(rng, train, target, config.model.num_reference_images)
  cam = identity.intrinsics
  lip_rate = config.data.lip_sample_rate
  if lip_rate > 0 and train.lip_rects is None:
    raise DatasetError(f'{train.source}: frames have no lip_rect, which config.data.lip_sample_rate = '
                       f'{lip_rate} needs (set it to 0 to train without mouth rays)')
  pixels = sample_ray_pixels(rng, cam.height, cam.width, train.face_rects[target], config.data.N_rand,
                             config.data.sample_rate, config.data.face_rect_transposed,
                             None if train.lip_rects is None else train.lip_rects[target], lip_rate,
                             config.data.extra_outside_rate, num_devices)
  rows, cols = pixels[:, 0], pixels[:, 1]
  aud = smoothing_window(split_aud_windows(identity, train), target, config.model.smo_size,
                         valid_count=len(train))
  batch = Batch(
      pixels=pixels.astype(np.float32),
      target=identity.image(train, target)[rows, cols],
      bg=identity.background(train, target)[rows, cols],
      c2w=np.asarray(train.poses[target]),
      intrinsics=np.array([cam.focal, cam.cx, cam.cy], np.float32),
      aud=aud,
      ref_images=np.stack([identity.image(train, r) for r in refs]),
      ref_poses=np.asarray(train.poses[refs]))
  rays = rays_per_step(config, num_devices)
  chex.assert_shape([batch.pixels], (rays, 2))
  chex.assert_shape([batch.target, batch.bg], (rays, 3))
  return batch


def rays_per_step(config: ml_collections.ConfigDict, num_devices: int = 1) -> int:
  """R, the rays of one training batch: data.N_rand plus the data.extra_outside_rate share, that
  share rounded up to split evenly over `num_devices` (`ray_sampling.ray_count`)."""
  d = config.data
  return ray_count(d.N_rand, d.extra_outside_rate, d.sample_rate, num_devices)


def face_rays_per_step(config: ml_collections.ConfigDict) -> int:
  """The rays of a batch drawn inside the face rectangle, its first ones (0 with no rectangle)."""
  return face_ray_count(config.data.N_rand, config.data.sample_rate)


def batches(rng: np.random.Generator, identities: list[Identity], config: ml_collections.ConfigDict,
            num_devices: int = 1) -> Iterator[tuple[Batch, dict[str, Any]]]:
  """Endless (batch, rng state after drawing it) pairs; the state is JSON-able."""
  while True:
    batch = draw_batch(rng, identities, config, num_devices)
    yield batch, rng.bit_generator.state


def rng_from_state(state: dict[str, Any]) -> np.random.Generator:
  """A Generator continuing from a saved `bit_generator.state`."""
  bit_generator = getattr(np.random, state['bit_generator'])()
  bit_generator.state = state
  return np.random.Generator(bit_generator)


def prefetch(iterator: Iterator[T], size: int) -> Iterator[T]:
  """Runs `iterator` in a daemon thread, `size` items ahead; its exceptions re-raise in the consumer."""
  if size < 1:
    raise ValueError(f'config.train.prefetch = {size}, expected >= 1')
  items: queue.Queue = queue.Queue(maxsize=size)
  stop = threading.Event()
  failed = object()

  def produce() -> None:
    try:
      for item in iterator:
        while not stop.is_set():
          try:
            items.put((None, item), timeout=0.1)
            break
          except queue.Full:
            continue
        if stop.is_set():
          return
    except Exception as e:  # pylint: disable=broad-except
      items.put((failed, e))

  thread = threading.Thread(target=produce, daemon=True)
  thread.start()
  try:
    while True:
      tag, item = items.get()
      if tag is failed:
        raise item
      yield item
  finally:
    stop.set()


def shard(batch: Batch, mesh: jax.sharding.Mesh) -> Batch:
  """Places a host batch on `mesh`: ray fields split over the 'data' axis, the rest replicated.

  Every process holds the same global batch (one seed), so each device takes its slice of it.
  """
  ray = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec('data'))
  rep = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())

  def place(name: str, x: np.ndarray) -> jax.Array:
    sharding = ray if name in RAY_FIELDS else rep
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

  return Batch(**{f.name: place(f.name, getattr(batch, f.name)) for f in dataclasses.fields(Batch)})
