"""The DFRF model: every network of the paper in one Flax module, with one method per stage.

Stages (paper section 3) and their methods:
  encode_audio        audio feature windows -> audio codes A (AudioNet)
  smooth_audio        codes of frames i-4..i+3 -> smoothed code of frame i (AudioAttNet)
  reference_features  N reference images -> feature maps F_n, computed once per frame
  aggregate           3D samples -> the aggregated feature F~ and the warp offsets: projection into every
                      reference (vmapped), the warp offset, bilinear feature sampling, slot-attention
                      fusion. Shared by the coarse and the fine field.
  radiance            F~ at 3D samples -> raw (colour logits, density) of the coarse or fine field.
  query               aggregate, then radiance.
  query_fields        aggregate once, then radiance of several fields (the coarse and the fine one).

Intermediates of `query` are sown into the 'intermediates' collection for inspection and parity tests
(`apply(..., mutable=['intermediates'])`).
"""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from dfrf_jax.model.aggregation import SlotAttention
from dfrf_jax.model.audio import AudioAttNet, AudioNet
from dfrf_jax.model.encoding import positional_encoding
from dfrf_jax.model.field import RadianceField
from dfrf_jax.model.image_features import FeatureNet, feature_net_inputs
from dfrf_jax.model.layers import check_precision
from dfrf_jax.model.projection import bilinear_sample, gather_nearest, project_to_references
from dfrf_jax.model.warp import WarpMLP


@chex.dataclass(frozen=True)
class QueryOutput:
  """What the field returns for P samples seen by N references.

  raw: [P, 4] rgb logits and raw density.
  offsets: [N, P, 2] warp offsets in pixels (row, col), before they are added to the projection.
  fused: [P, num_slots * slot_dim] the aggregated feature F~ the fields read (`query_fields` only).
  """
  raw: jax.Array
  offsets: jax.Array
  fused: jax.Array | None = None


class DFRF(nn.Module):
  """Dynamic Facial Radiance Field. `config` is the `model` section of the config, frozen.

  `precision` ('float32' or 'bf16', the config's top-level `precision`) is the arithmetic of the
  kernel products of the per-frame and per-sample networks (reference features, warp, slot attention,
  radiance fields; model/layers.py). The audio networks, run once per frame on a few rows, stay float32.
  """
  config: ml_collections.FrozenConfigDict
  precision: str = 'float32'

  def setup(self):
    m = self.config
    if m.warp_sample_point not in ('code', 'paper'):
      raise ValueError(f"config.model.warp_sample_point must be 'code' or 'paper', got {m.warp_sample_point!r}")
    self.audio_net = AudioNet(m.dim_aud)
    self.audio_att_net = AudioAttNet(m.smo_size, m.audatt_channels)
    p = check_precision(self.precision)
    self.feature_net = FeatureNet(m.feature_hidden, m.feature_dim, precision=p)
    self.warp = WarpMLP(tuple(m.warp_hidden), m.max_offset, precision=p)
    self.slot_attention = SlotAttention(m.num_slots, m.slot_dim, m.slot_iters, m.slot_side_dim,
                                        precision=p)
    self.coarse = RadianceField(m.netdepth, m.netwidth, tuple(m.skips), m.use_viewdirs, precision=p)
    self.fine = RadianceField(m.netdepth, m.netwidth_fine, tuple(m.skips), m.use_viewdirs,
                              precision=p)

  def encode_audio(self, windows: jax.Array) -> jax.Array:
    """windows: [n, 16, D] audio feature windows -> [n, dim_aud] audio codes."""
    return self.audio_net(windows)

  def smooth_audio(self, codes: jax.Array) -> tuple[jax.Array, jax.Array]:
    """codes: [smo_size, dim_aud] of frames i-4..i+3 -> ([dim_aud] smoothed code, [smo_size] weights)."""
    return self.audio_att_net(codes)

  def reference_features(self, images: jax.Array, poses: jax.Array) -> jax.Array:
    """images: [N, H, W, 3] in [0, 1]; poses: [N, 3, 4] c2w -> feature maps [N, H, W, feature_dim]."""
    return self.feature_net(feature_net_inputs(images, poses, self.config.multires_ref))

  def aggregate(self, points: jax.Array, audio_code: jax.Array, ref_features: jax.Array,
                ref_poses: jax.Array, focal: jax.Array | float, slot_noise: jax.Array | None,
                use_warp: bool = True) -> tuple[jax.Array, jax.Array]:
    """The aggregated reference feature F~ of P samples (shared by the coarse and the fine field).

    Projection into every reference (vmapped), the warp offset, bilinear feature sampling and
    slot-attention fusion: all of a sample's per-reference work (about 80% of a query's FLOPs on the
    demo configuration, 56% at the authors' sizes, as XLA counts them).

    Args:
      points: [P, 3] world units.
      audio_code: [dim_aud] the frame's (smoothed or not) audio code.
      ref_features: [N, H, W, C] from `reference_features`.
      ref_poses: [N, 3, 4] reference camera-to-world matrices.
      focal: focal length of the references in pixels.
      slot_noise: [P, num_slots, slot_dim] N(0, 1) draws for the slot initialisation, or None: with
        `slot_init='random'` and a 'slots' rng stream (`apply(..., rngs={'slots': key})`) the module
        draws them itself; otherwise the slots start at mu.
      use_warp: apply the warp module; False gives zero offsets (the paper's warp-free first stage).

    Returns:
      fused [P, num_slots * slot_dim] and the warp offsets [N, P, 2] in pixels.
    """
    m = self.config
    num_points = points.shape[0]
    num_refs, height, width, _ = ref_features.shape
    chex.assert_shape(points, (num_points, 3))
    chex.assert_shape(audio_code, (m.dim_aud,))
    chex.assert_shape(ref_poses, (num_refs, 3, 4))
    if slot_noise is None:
      slot_noise = self._slot_noise(num_points)

    embedded = positional_encoding(points, m.multires)                       # [P, 63]
    proj = project_to_references(points, ref_poses, focal, height, width)    # [N, P, 2]
    nearest = jnp.round(proj)                                                # half to even
    nearest_features = jax.vmap(gather_nearest)(ref_features, nearest.astype(jnp.int32))

    if use_warp:
      offsets = self.warp(embedded[None], jax.lax.stop_gradient(audio_code),
                          jax.lax.stop_gradient(nearest_features))           # [N, P, 2]
    else:
      offsets = jnp.zeros_like(proj)

    base = nearest if m.warp_sample_point == 'code' else proj
    limits = jnp.array([height - 1.0, width - 1.0], proj.dtype)
    warped = jnp.clip(base + offsets, 0.0, limits)
    sampled = jax.vmap(bilinear_sample)(ref_features, warped)                # [N, P, C]
    tokens = jnp.concatenate([sampled, jax.lax.stop_gradient(jnp.trunc(warped))], -1)
    fused = self.slot_attention(jnp.swapaxes(tokens, 0, 1), embedded, slot_noise)  # [P, S*D]

    self.sow('intermediates', 'proj', proj)
    self.sow('intermediates', 'nearest_features', nearest_features)
    self.sow('intermediates', 'tokens', tokens)
    self.sow('intermediates', 'fused', fused)
    return fused, offsets

  def _slot_noise(self, num_points: int) -> jax.Array | None:
    """[P, num_slots, slot_dim] N(0, 1) draws from the 'slots' rng stream when `slot_init='random'`
    and the stream is given; None (slots = mu) otherwise."""
    m = self.config
    if m.slot_init not in ('random', 'mean'):
      raise ValueError(f"config.model.slot_init must be 'random' or 'mean', got {m.slot_init!r}")
    if m.slot_init == 'mean' or not self.has_rng('slots'):
      return None
    return jax.random.normal(self.make_rng('slots'), (num_points, m.num_slots, m.slot_dim),
                             jnp.float32)

  def radiance(self, fused: jax.Array, points: jax.Array, viewdirs: jax.Array,
               audio_code: jax.Array, fine: bool,
               trains_audio: jax.Array | None = None) -> jax.Array:
    """The coarse or fine field F(p, d, A, F~) at P samples.

    Args:
      fused: [P, num_slots * slot_dim] from `aggregate`.
      points: [P, 3] world units. viewdirs: [P, 3] unit viewing directions.
      audio_code: [dim_aud]. fine: evaluate the fine field (else the coarse one).
      trains_audio: [P] bool, the samples whose gradient reaches the audio code (the others see it
        behind a stop-gradient, `gated_audio_code`); None: every sample's does.

    Returns:
      raw: [P, 4] rgb logits and raw density.
    """
    m = self.config
    num_points = points.shape[0]
    chex.assert_shape(fused, (num_points, m.num_slots * m.slot_dim))
    chex.assert_shape(viewdirs, (num_points, 3))
    audio_code = gated_audio_code(audio_code, trains_audio)
    point_inputs = [fused, positional_encoding(points, m.multires), audio_code]
    view_inputs = positional_encoding(viewdirs, m.multires_views) if m.use_viewdirs else None
    # Built only when the intermediates are collected (otherwise dead code the compiler drops).
    self.sow('intermediates', 'point_inputs', jnp.concatenate(
        point_inputs[:2] + [jnp.broadcast_to(audio_code, (num_points, m.dim_aud))], -1))
    return (self.fine if fine else self.coarse)(point_inputs, view_inputs)

  def query(self, points: jax.Array, viewdirs: jax.Array, audio_code: jax.Array,
            ref_features: jax.Array, ref_poses: jax.Array, focal: jax.Array | float,
            slot_noise: jax.Array | None, fine: bool, use_warp: bool = True) -> QueryOutput:
    """Evaluates the coarse or fine field at P samples: `aggregate`, then `radiance`.

    Args:
      points, audio_code, ref_features, ref_poses, focal, slot_noise, use_warp: as `aggregate`.
      viewdirs: [P, 3] unit viewing directions.
      fine: evaluate the fine field (else the coarse one).

    Returns:
      QueryOutput with raw [P, 4] and offsets [N, P, 2].
    """
    out = self.query_fields(points, viewdirs, audio_code, ref_features, ref_poses, focal,
                            slot_noise, (fine,), use_warp)
    return QueryOutput(raw=out.raw[:, 0], offsets=out.offsets)

  def query_fields(self, points: jax.Array, viewdirs: jax.Array, audio_code: jax.Array,
                   ref_features: jax.Array, ref_poses: jax.Array, focal: jax.Array | float,
                   slot_noise: jax.Array | None, fields: tuple[bool, ...],
                   use_warp: bool = True, trains_audio: jax.Array | None = None) -> QueryOutput:
    """Several fields at the same P samples from one `aggregate` (F~ is shared by both fields).

    Args:
      points, viewdirs, audio_code, ref_features, ref_poses, focal, slot_noise, use_warp: as `query`.
      fields: which fields to evaluate, in order (False: coarse, True: fine).
      trains_audio: [P] bool or None, as `radiance` (the warp sees the code without gradient
        anyway).

    Returns:
      QueryOutput with raw [P, len(fields), 4], offsets [N, P, 2] and fused [P, S*D].
    """
    fused, offsets = self.aggregate(points, audio_code, ref_features, ref_poses, focal, slot_noise,
                                    use_warp)
    raw = [self.radiance(fused, points, viewdirs, audio_code, fine, trains_audio)
           for fine in fields]
    return QueryOutput(raw=jnp.stack(raw, 1), offsets=offsets, fused=fused)

  def __call__(self, windows: jax.Array, ref_images: jax.Array, ref_poses: jax.Array,
               points: jax.Array, viewdirs: jax.Array, focal: float) -> QueryOutput:
    """Runs every network once (used by `init`): audio, smoothing, references, coarse and fine query."""
    codes = self.encode_audio(windows)
    code, _ = self.smooth_audio(codes[:self.config.smo_size])
    features = self.reference_features(ref_images, ref_poses)
    self.query(points, viewdirs, code, features, ref_poses, focal, None, fine=False)
    return self.query(points, viewdirs, code, features, ref_poses, focal, None, fine=True)


def gated_audio_code(audio_code: jax.Array, trains_audio: jax.Array | None) -> jax.Array:
  """The audio code each of P samples is evaluated with, its gradient stopped where it should not
  train the audio networks.

  Args:
    audio_code: [dim_aud] the frame's code.
    trains_audio: [P] bool, or None (every sample trains the code).

  Returns:
    audio_code itself without `trains_audio`; otherwise [P, dim_aud], equal to it in every row, with
    the rows where trains_audio is False behind `jax.lax.stop_gradient`.
  """
  if trains_audio is None:
    return audio_code
  chex.assert_rank(trains_audio, 1)
  return jnp.where(trains_audio[:, None], audio_code, jax.lax.stop_gradient(audio_code))


def audio_code(model: DFRF, params: dict, aud: jax.Array, smoothing: bool) -> jax.Array:
  """The frame's audio code: [smo_size, 16, D] window -> [dim_aud].

  Without smoothing AudioNet encodes the frame's own window (row smo_size // 2); with it, AudioNet
  encodes all rows and AudioAttNet blends them.
  """
  centre = model.config.smo_size // 2
  if not smoothing:
    return model.apply({'params': params}, aud[centre:centre + 1], method=DFRF.encode_audio)[0]
  codes = model.apply({'params': params}, aud, method=DFRF.encode_audio)
  code, _ = model.apply({'params': params}, codes, method=DFRF.smooth_audio)
  return code


def build_model(model_config: ml_collections.ConfigDict, precision: str = 'float32') -> DFRF:
  """The DFRF module for the `model` section of a config, in the config's `precision`."""
  return DFRF(ml_collections.FrozenConfigDict(model_config), check_precision(precision))


def init_params(model: DFRF, key: jax.Array) -> dict:
  """Fresh parameters (PyTorch-style initialisation) for `model`; independent of the image size."""
  m = model.config
  n = m.num_reference_images
  size = 8
  windows = jnp.zeros((m.smo_size, 16, m.aud_feature_dim), jnp.float32)
  images = jnp.zeros((n, size, size, 3), jnp.float32)
  poses = jnp.tile(jnp.eye(4, dtype=jnp.float32)[:3][None], (n, 1, 1)).at[:, 2, 3].set(1.0)
  points = jnp.zeros((2, 3), jnp.float32)
  viewdirs = jnp.tile(jnp.array([[0.0, 0.0, -1.0]], jnp.float32), (2, 1))
  return jax.jit(model.init)(key, windows, images, poses, points, viewdirs, 10.0)['params']
