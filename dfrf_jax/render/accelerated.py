"""The accelerated marcher: occupancy-filtered samples compacted into a fixed budget, early termination.

`renderer.march` calls it when given a marching state (render/march_state.py: the mask and the budget).
The sample depths are the dense marcher's (`coarse_z`, then `fine_z` from the coarse weights, with
the same keys, `rays.ray_keys`), but each pass evaluates the fields (`DFRF.query_fields`) only on the
samples that lie in occupied cells of an `OccupancyMask` (a grid thresholded and dilated once per
grid, `march_state.skip_mask`). Those are gathered from all
rays into a list of static length (the budget, `jnp.nonzero(size=...)`), evaluated in `point_chunk`
pieces (pieces that hold only the budget's padding are skipped at run time), and scattered back onto
the ray layout, where the authors' compositing runs unchanged. The per-reference projection, warp and bilinear
sampling (`DFRF.aggregate`, most of a query's cost) are computed for evaluated samples only, so
skipped samples skip them as well. A ray with no occupied sample never reaches the networks and
composites to its background pixel.

The coarse and fine fields share the aggregation network, so a coarse depth's aggregated feature F~
is the same in both passes. With `accel.reuse_coarse_features` the coarse pass feeds the F~ of each
sample it evaluates to both fields, and the fine pass queries only its importance samples (and coarse
depths the coarse pass did not evaluate): about half of the fine pass's aggregations are not redone.
With `accel.interpolate_features` (rendering; `train_interpolate_features` in a train step) the coarse
pass also keeps those F~ (`_Pass.fused`, `_Pass.rows`), and each other fine-pass sample takes F~
interpolated linearly in depth between the nearest evaluated coarse samples on either side
(`_brackets`, `_interpolated_fn`): only the fine field's MLP runs there, no aggregation. With
`accel.coarse_aggregation_stride` = k > 1 the coarse pass itself aggregates only at anchors (the first
occupied sample of every run along a ray, every k-th after it and the run's last, `_anchors`); the
coarse samples between run both fields on F~ interpolated between the anchors around them
(`_interpolate_coarse`), and the importance samples interpolate between anchors.

Each pass is split into depth segments, one budget each. A ray whose transmittance before a segment
is below `accel.termination_threshold` (in training: `accel.train_termination_threshold`) asks for
no more samples.

Exact and approximate, against the dense march with the same key:
- Skipped samples get raw = (0, 0, 0, EMPTY_DENSITY): zero density, as empty space.
- The last sample of every ray (the background at far, delta 1e10) is never evaluated: its alpha is
  1 in float32 whatever the network says and its colour is the background, so this is exact.
- With every cell occupied, no termination and enough budget, the evaluated samples are exactly the
  dense ones: outputs agree up to float summation order. Only the last sample's `sigma_fine` and
  `offsets_fine` differ (not evaluated here: EMPTY_DENSITY and 0).
- Slot noise (`slot_init='random'`) is drawn by the model per evaluated sample, from a key folded
  per segment and chunk: same distribution, other draws.
  With `reuse_coarse_features` both fields see one draw at a coarse depth (the dense path draws
  one per pass); without slot noise the reuse is exact.
- Skipping is approximate where the grid misses density above `accel.density_threshold` (while
  training: `occupancy.training_threshold`, that value capped at the grid's mean density). The mask
  is dilated by `accel.dilation` cells (one cell closes the gaps that one random point per cell
  leaves: on the demo model the frame then matches the dense one to ~1e-2, against 0.3 undilated).
- Early termination: for fixed depths, the colour changes by at most the threshold per channel (the
  skipped remainder of the transmittance goes to the background sample). Terminating in the coarse
  pass also moves the importance samples a little (their pdf loses the skipped weights).
- Samples beyond a segment's budget are treated as empty and counted in `MarchStats.overflow`; the
  host raises the budget between calls (`fit_budget`, `march_state.refit`, `renderer.render_frame`).
- Interpolated F~ (`accel.interpolate_features`) is an approximation: F~ varies slowly along a ray (on
  the demo model at 32 + 64 samples the frame changes by about 0.02 dB, max abs 0.05; at 16 + 16, where
  coarse depths lie twice as far apart, max abs 0.11). A fine sample with no evaluated coarse sample on
  its ray stays empty (`MarchStats.fine_unbracketed`). Coarse anchors (`coarse_aggregation_stride`)
  extend the approximation to the coarse samples between them, so to the coarse weights that place
  the importance samples.
- The offset regulariser sees zero offsets at skipped samples (the dense path penalises offsets in
  empty space too, where they change no pixel).
- Training with `accel.train_selection` differentiates only the samples that matter (`Selection`):
  same outputs, gradients without the shares of samples of zero density or behind transmittance
  `accel.train_keep_transmittance`. With interpolated features the coarse pass also differentiates
  the evaluated neighbours of its selected samples, whose F~ the importance samples between them
  take: on the authors' parity checkpoint every live module's gradient is then within 1e-5 of the
  unselected one (tests/render/test_training_selection_trained.py).
"""

from collections.abc import Callable
import math
from typing import NamedTuple

from flax import struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from dfrf_jax.render.chunking import map_in_chunks, points_per_call
from dfrf_jax.render.compositing import (composite, intervals, noisy_density, opacity, transmittance,
                                         transmittance_after)
from dfrf_jax.render.occupancy import OccupancyMask, occupied
from dfrf_jax.render.rays import Field, MarchMode, RayKeys, Rays, RenderOutput
from dfrf_jax.render.sampling import FineDepths, coarse_z, fine_z

# Raw density logit given to skipped samples: no density even with training noise on the logit.
EMPTY_DENSITY = -1e4


class SampleBudget(NamedTuple):
  """Static sample budgets: samples evaluated per depth segment, one entry per segment.

  coarse: budgets of the coarse pass's segments (its length is the number of segments).
  fine: budgets of the fine pass's segments.
  kept: () or, with training's sample selection (`accel.train_selection`), the budgets of the
    samples each pass differentiates (coarse, fine).
  """
  coarse: tuple[int, ...]
  fine: tuple[int, ...]
  kept: tuple[int, ...] = ()


@struct.dataclass
class MarchStats:
  """What the accelerated passes did (int32 counts over the whole batch of rays).

  coarse_requested, fine_requested: [K] samples each depth segment asked to evaluate (occupied,
    not the last sample, ray still live).
  coarse_capacity, fine_capacity: [K] samples in each depth segment (rays x its columns): what the
    dense path evaluates there, and the most a budget ever needs.
  coarse_evaluated, fine_evaluated: [] samples queried (aggregated feature and field), sum of
    min(requested, budget).
  fine_reused: [] fine-pass samples at coarse depths that took the coarse pass's aggregated feature
    (only the fine field ran there; `accel.reuse_coarse_features`), not in fine_requested.
  fine_interpolated: [] of fine_evaluated, samples whose F~ was interpolated between coarse depths
    (`accel.interpolate_features`: only the fine field ran, no aggregation).
  fine_unbracketed: [] occupied fine samples left empty because neither coarse depth around them
    was evaluated (with `accel.interpolate_features`; 0 otherwise).
  coarse_interpolated: [] coarse samples whose F~ was interpolated between aggregated ones
    (`accel.coarse_aggregation_stride` > 1: both fields' MLPs ran, no aggregation), not in
    coarse_evaluated.
  overflow: [] occupied samples dropped because a budget was too small (0 when nothing was lost;
    with selection also the selected samples beyond the kept budget, which lose their gradient).
  rays_skipped: [] rays that evaluated no sample in either pass (rendered as background).
  kept_requested, kept_capacity, kept_evaluated: with training's sample selection, [2] samples each
    pass selected for differentiation, [2] samples each pass evaluated at most, [] samples
    differentiated (sum of min(selected, kept budget)); None without selection.
  """
  coarse_requested: jax.Array
  fine_requested: jax.Array
  coarse_capacity: jax.Array
  fine_capacity: jax.Array
  coarse_evaluated: jax.Array
  fine_evaluated: jax.Array
  fine_reused: jax.Array
  fine_interpolated: jax.Array
  fine_unbracketed: jax.Array
  coarse_interpolated: jax.Array
  overflow: jax.Array
  rays_skipped: jax.Array
  kept_requested: jax.Array | None = None
  kept_capacity: jax.Array | None = None
  kept_evaluated: jax.Array | None = None

  def evaluated(self) -> jax.Array:
    """[] samples of both passes at which a field ran (aggregated or interpolated F~)."""
    return self.coarse_evaluated + self.coarse_interpolated + self.fine_evaluated

  def aggregated(self) -> jax.Array:
    """[] samples of both passes whose F~ was aggregated (not interpolated)."""
    return self.coarse_evaluated + self.fine_evaluated - self.fine_interpolated


def _segment_bounds(num_inner: int, num_segments: int) -> list[tuple[int, int]]:
  """Splits sample columns [0, num_inner) into `num_segments` contiguous depth ranges."""
  edges = [round(num_inner * k / num_segments) for k in range(num_segments + 1)]
  return list(zip(edges[:-1], edges[1:]))


def _query_fn(field: Field, fields: tuple[bool, ...], chunk: int | None, keep_fused: bool = False):
  """(points [B, 3], viewdirs [B, 3], trains_audio [B] or None, key, num_valid [], extra ()) ->
  (raw [B, len(fields), 4], offsets [B, N, 2], fused [B, S*D] or None).

  Evaluated in chunks of `chunk` rows (None: in one call); rows from `num_valid` on are budget
  padding, and chunks of padding only are skipped (zeros). The aggregated feature of a sample is
  computed once and fed to every field in `fields`, and returned with `keep_fused`. Each chunk's
  slot noise is drawn by the model from the key folded with the chunk's first row. trains_audio:
  the samples whose gradient reaches the audio code (`Rays.trains_audio`).
  """
  def evaluate(points, viewdirs, trains_audio, key, num_valid, extra):
    del extra  # every sample is aggregated here

    def one_chunk(p, v, index, *flags):
      slot_key = None if key is None else jax.random.fold_in(key, index[0])
      out = field.query(p, v, fields, slot_key, *flags)
      return out.raw, jnp.swapaxes(out.offsets, 0, 1), out.fused if keep_fused else None

    args = (points, viewdirs, jnp.arange(points.shape[0], dtype=jnp.int32)) + _flags(trains_audio)
    if chunk is None:
      return one_chunk(*args)
    return map_in_chunks(one_chunk, args, chunk, num_valid=num_valid)

  return evaluate


def _interpolated_fn(field: Field, chunk: int | None, fused_table: jax.Array,
                     fields: tuple[bool, ...] = (True,)):
  """Like `_query_fn` with F~ interpolated instead of aggregated (by default the fine field alone).

  `extra` is (first [B], second [B] int32 rows of `fused_table` [T, S*D], -1 for none; share [B] of
  the second, `Brackets.share`): F~ = (1 - share) * first + share * second. Only the fields' MLPs
  run; offsets come back zero (`_interpolated_offsets` fills them for training).
  """
  def evaluate(points, viewdirs, trains_audio, key, num_valid, extra):
    del key  # no slot noise: the interpolated features carry the coarse pass's draws

    def one_chunk(p, v, first, second, share, *flags):
      a = fused_table[jnp.maximum(first, 0)]
      b = fused_table[jnp.maximum(second, 0)]
      fused = a + share[:, None] * (b - a)
      raw = jnp.stack([field.radiance(fused, p, v, f, *flags) for f in fields], 1)
      return raw, jnp.zeros((p.shape[0], field.num_refs, 2), jnp.float32), None

    args = (points, viewdirs) + tuple(extra) + _flags(trains_audio)
    if chunk is None:
      return one_chunk(*args)
    return map_in_chunks(one_chunk, args, chunk, num_valid=num_valid)

  return evaluate


class Brackets(NamedTuple):
  """For each fine-pass sample, the nearest coarse samples on either side whose F~ the coarse pass
  computed (the coarse depth itself when it was).

  first, second: [R, S+M] int32 rows of the coarse pass's F~ table (`_Pass.fused`) of the nearest
    evaluated coarse sample at or before the sample and at or after it; -1 where there is none.
  share: [R, S+M] the weight of the second: the sample's place between the two depths (0 at the
    first, 1 at the second), 1 where only the second exists, 0 where only the first does.
  found: [R, S+M] bool, at least one of them exists.
  column, next_column: [R, S+M] int32 their coarse columns (clipped into range where missing).
  """
  first: jax.Array
  second: jax.Array
  share: jax.Array
  found: jax.Array
  column: jax.Array
  next_column: jax.Array


def _brackets(z_coarse: jax.Array, depths: FineDepths, rows: jax.Array) -> Brackets:
  """The `Brackets` of the fine depths `depths` among coarse depths z_coarse [R, S] whose F~ rows
  are `rows` [R, S] int32 (-1: not evaluated)."""
  num_coarse = z_coarse.shape[1]
  columns = jnp.arange(num_coarse, dtype=jnp.int32)
  known = rows >= 0
  before = jax.lax.cummax(jnp.where(known, columns, -1), axis=1)       # last known at or before
  after = jax.lax.cummin(jnp.where(known, columns, num_coarse), axis=1, reverse=True)
  # The coarse column at or before each fine depth, and whether the depth is that coarse depth.
  at_or_before = jnp.clip(jnp.cumsum(depths.source < num_coarse, 1, dtype=jnp.int32) - 1, 0,
                          num_coarse - 1)
  on_coarse = depths.z <= jnp.take_along_axis(z_coarse, at_or_before, 1)
  lo = jnp.take_along_axis(before, at_or_before, 1)
  hi = jnp.take_along_axis(after, jnp.minimum(at_or_before + (~on_coarse), num_coarse - 1), 1)
  hi = jnp.where(~on_coarse & (at_or_before + 1 >= num_coarse), num_coarse, hi)
  column, next_column = jnp.maximum(lo, 0), jnp.minimum(hi, num_coarse - 1)
  z0 = jnp.take_along_axis(z_coarse, column, 1)
  z1 = jnp.take_along_axis(z_coarse, next_column, 1)
  span = z1 - z0
  share = jnp.where(span > 0, jnp.clip((depths.z - z0) / jnp.where(span > 0, span, 1.0), 0, 1), 0.0)
  first = jnp.where(lo >= 0, jnp.take_along_axis(rows, column, 1), -1)
  second = jnp.where(hi < num_coarse, jnp.take_along_axis(rows, next_column, 1), -1)
  share = jnp.where(first < 0, 1.0, jnp.where(second < 0, 0.0, share))
  return Brackets(first=first, second=second, share=share, found=(first >= 0) | (second >= 0),
                  column=column, next_column=next_column)


def _interpolated_offsets(coarse_offsets: jax.Array, brackets: Brackets) -> jax.Array:
  """Warp offsets [N, R, S+M, 2] at the fine depths, interpolated as F~ is from the coarse pass's
  offsets [N, R, S, 2] (zero where the coarse pass did not evaluate)."""
  b = brackets
  first = jnp.take_along_axis(coarse_offsets, b.column[None, ..., None], 2)
  second = jnp.take_along_axis(coarse_offsets, b.next_column[None, ..., None], 2)
  return first + b.share[None, ..., None] * (second - first)


class Selection(NamedTuple):
  """Training's choice of the samples a pass differentiates (`accel.train_selection`).

  The pass first evaluates its occupied samples without gradients; of those it keeps the samples
  whose (noisy) raw density is positive, whose opacity exceeds `alpha_threshold` and before which the
  ray's transmittance exceeds `transmittance_threshold` (for the fine field's values at coarse
  depths, `accel.reuse_coarse_features`: a positive raw density), compacts them into `budget` and
  evaluates them again, with gradients. The others keep their values, without gradients: the
  pass's outputs are the unselected pass's, only its gradients lose the dropped samples' shares.
  That includes the offset regulariser's share there (as at skipped samples), and with
  `slot_init='random'` the second evaluation draws other slot noise than the first. A pass that
  keeps an F~ table for interpolation (the coarse pass) also keeps the evaluated neighbours of its
  selected samples and writes their differentiated F~ into the table (`_differentiate_selected`).
  A pass that revives its density (`revival`: not one noisy sample is positive) keeps every
  evaluated sample, as far as the budget goes, since each now passes a gradient.

  noise_std: the pass's density-noise rule (`MarchMode.noise_std`); noise_key: its key (the one
  `composite` draws the same noise from). revival: `MarchMode.revival_rule`.
  """
  budget: int
  alpha_threshold: float
  transmittance_threshold: float
  noise_std: Callable[[jax.Array], float | jax.Array]
  noise_key: jax.Array | None
  revival: Callable[[jax.Array], jax.Array] | None


class _Pass(NamedTuple):
  """What `_march_pass` returns.

  raw: [R, S, F, 4] per field asked for (EMPTY_DENSITY where not evaluated).
  offsets: [N, R, S, 2] or None.
  evaluated: [R, S] bool, samples whose values come from this pass's queries or from `initial`.
  requested: [K] int32 samples each segment asked for. num_evaluated: [] int32 queries run.
  kept: [] int32 samples selected for differentiation (`Selection`), or None.
  fused: [T, S*D] the F~ of every evaluated sample (T: the sum of the budgets), or None.
  rows: [R, S] int32 row of each sample in `fused`, -1 where not evaluated; or None.
  """
  raw: jax.Array
  offsets: jax.Array | None
  evaluated: jax.Array
  requested: jax.Array
  num_evaluated: jax.Array
  kept: jax.Array | None = None
  fused: jax.Array | None = None
  rows: jax.Array | None = None


def _empty_raw(shape: tuple[int, ...]) -> jax.Array:
  """raw of skipped samples, [*shape, 4]: no colour, EMPTY_DENSITY."""
  return jnp.zeros(shape + (4,), jnp.float32).at[..., 3].set(EMPTY_DENSITY)


def _flags(trains_audio: jax.Array | None) -> tuple[jax.Array, ...]:
  """The optional per-sample `trains_audio` as trailing arguments of a chunked call: () or (it,)."""
  return () if trains_audio is None else (trains_audio,)


def _gathered(rays: Rays, z: jax.Array, ray: jax.Array, col: jax.Array,
              per_sample: tuple[jax.Array, ...]
              ) -> tuple[jax.Array, jax.Array, jax.Array | None, tuple[jax.Array, ...]]:
  """The compacted samples at (ray [B], col [B]) int32 of depths z [R, S]: (points [B, 3],
  viewdirs [B, 3], their rays' `trains_audio` [B] or None, each of `per_sample` [R, S, ...] at
  them). Padding entries (ray = R) clamp to the last sample; their results are dropped where they
  are scattered back."""
  ray_in = jnp.minimum(ray, z.shape[0] - 1)
  col_in = jnp.minimum(col, z.shape[1] - 1)
  points = rays.origins[ray_in] + rays.directions[ray_in] * z[ray_in, col_in][:, None]
  trains_audio = None if rays.trains_audio is None else rays.trains_audio[ray_in]
  return (points, rays.viewdirs()[ray_in], trains_audio,
          tuple(x[ray_in, col_in] for x in per_sample))


def _march_pass(query, rays: Rays, z: jax.Array, mask: jax.Array, budgets: tuple[int, ...],
                key: jax.Array | None, termination: float, num_fields: int, num_refs: int,
                keep_offsets: bool,
                initial: tuple[jax.Array, jax.Array | None, jax.Array] | None = None,
                selection: Selection | None = None, per_sample: tuple[jax.Array, ...] = (),
                keep_fused: bool = False) -> _Pass:
  """Evaluates the masked samples of one pass segment by segment, each compacted into its budget.

  Args:
    query: from `_query_fn`; its first field is the pass's own (the one termination reads).
    rays: the R rays. z: [R, S] sample depths. mask: [R, S] samples to query.
    budgets: samples evaluated per depth segment (static).
    key: slot-noise key or None. termination: transmittance threshold (0: none).
    num_fields: F, fields the query returns. num_refs: N, references (shape of the offsets).
    keep_offsets: return the offsets.
    initial: (raw [R, S, F, 4], offsets [N, R, S, 2] or None, evaluated [R, S]) values already known
      (not in `mask`), or None.
    selection: differentiate only the samples it selects (training), or None: all of them.
    per_sample: [R, S, ...] arrays handed to `query` (its `extra`) at each compacted sample.
    keep_fused: keep the F~ the query returns (`_Pass.fused`, `_Pass.rows`).

  Returns:
    _Pass.
  """
  num_rays, num_samples = z.shape
  if initial is None:
    raw = _empty_raw((num_rays, num_samples, num_fields))
    offsets = jnp.zeros((num_refs, num_rays, num_samples, 2), jnp.float32) if keep_offsets else None
    done = jnp.zeros((num_rays, num_samples), bool)
  else:
    raw, offsets, done = initial
  live = jnp.ones((num_rays,), bool)
  requested, evaluated, fused = [], [], []
  rows = jnp.full((num_rays, num_samples), -1, jnp.int32) if keep_fused else None
  bounds = _segment_bounds(num_samples - 1, len(budgets))
  for k, ((lo, hi), budget) in enumerate(zip(bounds, budgets)):
    width = hi - lo
    seg = mask[:, lo:hi]
    if termination > 0.0:
      seg = seg & live[:, None]
    count = jnp.sum(seg, dtype=jnp.int32)
    requested.append(count)
    evaluated.append(jnp.minimum(count, budget))
    if budget > 0 and width > 0:
      # Padding entries point one row past the last ray: their gathers clamp, their scatters drop.
      flat = jnp.nonzero(seg.reshape(-1), size=budget, fill_value=num_rays * width)[0]
      ray, col = flat // width, lo + flat % width
      seg_key = None if key is None else jax.random.fold_in(key, k)
      points, viewdirs, trains_audio, extra = _gathered(rays, z, ray, col, per_sample)
      out_raw, out_offsets, out_fused = query(points, viewdirs, trains_audio, seg_key, count, extra)
      if selection is not None:  # values only: the selected samples are differentiated below
        out_raw, out_offsets, out_fused = jax.lax.stop_gradient((out_raw, out_offsets, out_fused))
      if keep_fused:
        start = sum(f.shape[0] for f in fused)
        rows = rows.at[ray, col].set(start + jnp.arange(budget, dtype=jnp.int32), mode='drop')
        fused.append(out_fused)
      raw = raw.at[ray, col].set(out_raw, mode='drop')
      if keep_offsets:
        offsets = offsets.at[:, ray, col].set(jnp.swapaxes(out_offsets, 0, 1), mode='drop')
      done = done.at[ray, col].set(True, mode='drop')
    if termination > 0.0 and k + 1 < len(budgets):
      live = transmittance_after(raw[:, :hi, 0, 3], z[:, :hi + 1], rays.directions) > termination
  kept = None
  table = jnp.concatenate(fused) if fused else None
  if selection is not None:
    here = done if initial is None else done & ~initial[2]
    raw, offsets, kept, table = _differentiate_selected(
        query, rays, z, raw, offsets, here, selection,
        None if key is None else jax.random.fold_in(key, len(budgets)), per_sample, table, rows)
  return _Pass(raw=raw, offsets=offsets, evaluated=done, requested=jnp.stack(requested),
               num_evaluated=sum(evaluated), kept=kept, fused=table, rows=rows)


def _evaluated_neighbours(keep: jax.Array, here: jax.Array) -> jax.Array:
  """[R, S] bool: samples in `here` whose nearest `here` sample before or after, along the ray, is
  in `keep` (both [R, S] bool): the other ends of the interpolation intervals (`_brackets`) that
  start or end at a kept sample."""
  num_samples = here.shape[1]
  columns = jnp.arange(num_samples, dtype=jnp.int32)
  # The nearest evaluated column strictly after / before each column (num_samples / -1: none).
  after = jax.lax.cummin(jnp.where(here, columns, num_samples), axis=1, reverse=True)
  after = jnp.pad(after[:, 1:], ((0, 0), (0, 1)), constant_values=num_samples)
  before = jax.lax.cummax(jnp.where(here, columns, -1), axis=1)
  before = jnp.pad(before[:, :-1], ((0, 0), (1, 0)), constant_values=-1)
  padded = jnp.pad(keep, ((0, 0), (1, 1)))  # column c at c + 1; -1 and num_samples: False
  return here & (jnp.take_along_axis(padded, after + 1, 1)
                 | jnp.take_along_axis(padded, before + 1, 1))


def _differentiate_selected(query, rays: Rays, z: jax.Array, raw: jax.Array,
                            offsets: jax.Array | None, here: jax.Array, selection: Selection,
                            key: jax.Array | None, per_sample: tuple[jax.Array, ...] = (),
                            table: jax.Array | None = None, rows: jax.Array | None = None
                            ) -> tuple[jax.Array, jax.Array | None, jax.Array, jax.Array | None]:
  """Re-evaluates, with gradients, the samples of a pass that `selection` keeps.

  With an F~ table (`keep_fused`, for the fine pass's interpolated features) the evaluated
  neighbours of the kept samples along their rays are kept as well (`_evaluated_neighbours`): an
  importance sample placed next to a kept sample takes its F~ from both, and both then pass it
  gradients. Their re-evaluated F~ replaces the table's rows.

  Args:
    query: the pass's `_query_fn`. rays: the R rays. z: [R, S] depths.
    raw: [R, S, F, 4] the pass's values (without gradients). offsets: [N, R, S, 2] or None.
    here: [R, S] samples this pass evaluated. selection: the rule and budget. key: slot-noise key.
    per_sample: as `_march_pass`.
    table: [T, S*D] the pass's F~ (without gradients), or None. rows: [R, S] int32 their rows.

  Returns:
    (raw, offsets) with the kept samples' values carrying gradients, [] int32 samples selected, and
    the table with the kept samples' rows carrying gradients (None without a table).
  """
  num_rays, num_samples = z.shape
  own = raw[:, :, 0]
  sigma = noisy_density(own[..., 3], selection.noise_std(own), selection.noise_key)
  alpha = opacity(sigma, intervals(z, rays.directions))
  keep = (here & (sigma > 0.0) & (alpha > selection.alpha_threshold)
          & (transmittance(alpha) > selection.transmittance_threshold))
  if selection.revival is not None:
    keep = keep | (here & selection.revival(sigma))
  for f in range(1, raw.shape[2]):  # other fields at these samples (the fine one at coarse depths)
    keep = keep | (here & (raw[:, :, f, 3] > 0.0))
  if table is not None:
    keep = keep | _evaluated_neighbours(keep, here)
  count = jnp.sum(keep, dtype=jnp.int32)
  if selection.budget > 0:
    flat = jnp.nonzero(keep.reshape(-1), size=selection.budget,
                       fill_value=num_rays * num_samples)[0]
    ray, col = flat // num_samples, flat % num_samples
    points, viewdirs, trains_audio, extra = _gathered(rays, z, ray, col, per_sample)
    out_raw, out_offsets, out_fused = query(points, viewdirs, trains_audio, key, count, extra)
    raw = raw.at[ray, col].set(out_raw, mode='drop')
    if offsets is not None:
      offsets = offsets.at[:, ray, col].set(jnp.swapaxes(out_offsets, 0, 1), mode='drop')
    if table is not None:  # padding entries get a row past the table's end, dropped
      row = jnp.where(ray < num_rays, rows[jnp.minimum(ray, num_rays - 1),
                                          jnp.minimum(col, num_samples - 1)], table.shape[0])
      table = table.at[row].set(out_fused, mode='drop')
  return raw, offsets, count, table


def _reused_in_fine_pass(coarse: _Pass, depths: FineDepths, keep_offsets: bool
                         ) -> tuple[jax.Array, jax.Array | None, jax.Array]:
  """The fine pass's samples at coarse depths that the coarse pass evaluated, in the fine layout.

  Args:
    coarse: the coarse pass, run with fields (coarse, fine), over S depths per ray.
    depths: the fine pass's depths (`fine_z`; `source` says which came from coarse columns).
    keep_offsets: also carry the coarse pass's offsets over.

  Returns:
    (raw [R, S+M, 1, 4] of the fine field, offsets [N, R, S+M, 2] or None, reused [R, S+M] bool):
    `_march_pass`'s `initial` for the fine pass.
  """
  num_coarse = coarse.evaluated.shape[1]
  col = jnp.minimum(depths.source, num_coarse - 1)
  reused = (depths.source < num_coarse) & jnp.take_along_axis(coarse.evaluated, col, 1)
  fine_raw = jnp.take_along_axis(coarse.raw[:, :, 1], col[..., None], 1)
  raw = jnp.where(reused[..., None], fine_raw, _empty_raw(reused.shape))[:, :, None]
  offsets = None
  if keep_offsets:
    carried = jnp.take_along_axis(coarse.offsets, col[None, ..., None], 2)
    offsets = jnp.where(reused[None, ..., None], carried, 0.0)
  return raw, offsets, reused


def _anchors(occupied_mask: jax.Array, stride: int) -> jax.Array:
  """[R, S] bool: the samples of `occupied_mask` [R, S] whose F~ is aggregated with
  `accel.coarse_aggregation_stride` = stride: in every run of consecutive occupied samples along a
  ray, the run's first sample, every stride-th after it and the run's last."""
  num_samples = occupied_mask.shape[1]
  columns = jnp.arange(num_samples, dtype=jnp.int32)
  previous = jnp.pad(occupied_mask[:, :-1], ((0, 0), (1, 0)))
  following = jnp.pad(occupied_mask[:, 1:], ((0, 0), (0, 1)))
  start = jax.lax.cummax(jnp.where(occupied_mask & ~previous, columns, -1), axis=1)
  return occupied_mask & (((columns - start) % stride == 0) | ~following)


def _interpolate_coarse(field: Field, anchored: _Pass, rays: Rays, z: jax.Array,
                        between: jax.Array, budgets: tuple[int, ...], stride: int,
                        termination: float, fields: tuple[bool, ...], keep_offsets: bool,
                        chunk: int | None) -> tuple[_Pass, jax.Array]:
  """Fills the coarse samples `between` [R, S] the anchors of `anchored` (the coarse pass run on
  `_anchors` only) with F~ interpolated between the anchors around them, as the fine pass does.

  In every run of occupied samples there are at most stride - 1 samples between anchors per anchor,
  so budgets of (stride - 1) x the anchors' (capped at the segment's samples) hold them whenever the
  anchors fit theirs. Returns the coarse pass with every sample's values (`requested` and
  `num_evaluated` stay the anchors': the aggregations), and [] int32 samples interpolated.
  """
  num_coarse = z.shape[1]
  capacity = _segment_capacity(z.shape[0], num_coarse, len(budgets))
  budgets = tuple(min(cap, b * (stride - 1)) for b, cap in zip(budgets, capacity))
  source = jnp.broadcast_to(jnp.arange(num_coarse, dtype=jnp.int32), z.shape)
  brackets = _brackets(z, FineDepths(z=z, samples=z[:, :0], source=source), anchored.rows)
  between = between & brackets.found
  filled = _march_pass(_interpolated_fn(field, chunk, anchored.fused, fields), rays, z, between,
                       budgets, None, termination, len(fields), field.num_refs,
                       keep_offsets=keep_offsets,
                       initial=(anchored.raw, anchored.offsets, anchored.evaluated),
                       per_sample=(brackets.first, brackets.second, brackets.share))
  offsets = filled.offsets
  if keep_offsets:
    offsets = jnp.where(between[None, ..., None],
                        _interpolated_offsets(anchored.offsets, brackets), anchored.offsets)
  return anchored._replace(raw=filled.raw, offsets=offsets, evaluated=filled.evaluated), \
      filled.num_evaluated


def march_accelerated(field: Field, rays: Rays, keys: RayKeys, mode: MarchMode,
                      mask: OccupancyMask, budget: SampleBudget) -> tuple[RenderOutput, MarchStats]:
  """The dense march's outputs from the samples in occupied cells, compacted into `budget`.

  Args:
    field, rays, keys, mode: as `renderer.march`; reads `mode.render_config.accel`
      (termination_threshold, or with train train_termination_threshold; reuse_coarse_features;
      point_chunk when not training: a train step evaluates a segment in one call).
    mask: the cells to evaluate (`march_state.skip_mask`).
    budget: static samples per depth segment of each pass.

  Returns:
    RenderOutput (sigma_coarse / sigma_fine EMPTY_DENSITY where not evaluated; offsets_fine zero
    there, and None when not training) and MarchStats.
  """
  rays.check()
  r, a = mode.render_config, mode.render_config.accel
  termination = float(a.train_termination_threshold if mode.train else a.termination_threshold)
  keep_offsets = mode.train  # only the training loss reads them
  reuse = bool(a.reuse_coarse_features)
  interpolate = bool(a.train_interpolate_features if mode.train else a.interpolate_features)
  # Rendering evaluates the compacted samples in cache-sized chunks; a train step in one call per
  # segment, as the dense step evaluates all its rays at once (the backward pass of a chunked loop
  # costs more than it saves: ~10% per step on a CPU).
  chunk = None if mode.train else points_per_call(a.point_chunk)

  def occupied_samples(z):
    return occupied(mask, rays.points(z)).at[:, -1].set(False)  # the background sample is composited

  select = mode.train and bool(budget.kept)

  def selection(index: int, noise_key: jax.Array | None) -> Selection | None:
    if not select:
      return None
    return Selection(budget=budget.kept[index], alpha_threshold=float(a.train_alpha_threshold),
                     transmittance_threshold=float(a.train_keep_transmittance),
                     noise_std=mode.noise_std, noise_key=noise_key, revival=mode.revival_rule)

  z = coarse_z(rays.near, rays.far, r.N_samples, lindisp=r.lindisp,
               key=keys.strata if mode.randomise else None)
  z = jnp.broadcast_to(z, (rays.num, r.N_samples))
  fields = (False, True) if reuse else (False,)
  stride = int(a.coarse_aggregation_stride) if interpolate else 1
  if stride > 1 and select:
    raise ValueError('render.accel.coarse_aggregation_stride > 1 does not work with '
                     'render.accel.train_selection')
  coarse_occupied = occupied_samples(z)
  coarse_mask = _anchors(coarse_occupied, stride) if stride > 1 else coarse_occupied
  coarse_keeps_offsets = keep_offsets and (reuse or interpolate)
  coarse_pass = _march_pass(_query_fn(field, fields, chunk, keep_fused=interpolate), rays, z,
                            coarse_mask, budget.coarse, keys.slots_coarse, termination,
                            len(fields), field.num_refs, keep_offsets=coarse_keeps_offsets,
                            selection=selection(0, keys.noise_coarse), keep_fused=interpolate)
  coarse_interpolated = jnp.zeros((), jnp.int32)
  if stride > 1:
    coarse_pass, coarse_interpolated = _interpolate_coarse(
        field, coarse_pass, rays, z, coarse_occupied & ~coarse_mask, budget.coarse, stride,
        termination, fields, coarse_keeps_offsets, chunk)
  raw_coarse = coarse_pass.raw[:, :, 0]
  coarse = composite(raw_coarse, z, rays.directions, rays.background, white_bkgd=r.white_bkgd,
                     raw_noise_std=mode.noise_std(raw_coarse), key=keys.noise_coarse,
                     revival=mode.revival_rule)

  depths = fine_z(z, coarse.weights, r.N_importance, key=keys.pdf if mode.randomise else None)
  z_all = depths.z
  initial = _reused_in_fine_pass(coarse_pass, depths, keep_offsets) if reuse else None
  to_query = occupied_samples(z_all)
  if reuse:
    to_query = to_query & ~initial[2]
  if interpolate:
    brackets = _brackets(z, depths, coarse_pass.rows)
    unbracketed = jnp.sum(to_query & ~brackets.found, dtype=jnp.int32)
    to_query = to_query & brackets.found
    fine_query = _interpolated_fn(field, chunk, coarse_pass.fused)
    per_sample = (brackets.first, brackets.second, brackets.share)
  else:
    unbracketed = jnp.zeros((), jnp.int32)
    fine_query = _query_fn(field, (True,), chunk)
    per_sample = ()
  fine_pass = _march_pass(fine_query, rays, z_all, to_query, budget.fine, keys.slots_fine,
                          termination, 1, field.num_refs, keep_offsets=keep_offsets,
                          initial=initial, selection=selection(1, keys.noise_fine),
                          per_sample=per_sample)
  offsets_fine = fine_pass.offsets
  if interpolate and keep_offsets:
    queried = fine_pass.evaluated if initial is None else fine_pass.evaluated & ~initial[2]
    offsets_fine = jnp.where(queried[None, ..., None],
                             _interpolated_offsets(coarse_pass.offsets, brackets), offsets_fine)
  raw = fine_pass.raw[:, :, 0]
  fine = composite(raw, z_all, rays.directions, rays.background, white_bkgd=r.white_bkgd,
                   raw_noise_std=mode.noise_std(raw), key=keys.noise_fine,
                   revival=mode.revival_rule)

  requested = jnp.concatenate([coarse_pass.requested, fine_pass.requested])
  budgets = jnp.array(budget.coarse + budget.fine, jnp.int32)
  overflow = jnp.sum(jnp.maximum(requested - budgets, 0))

  def capacity(num_samples, num_segments):
    return jnp.array(_segment_capacity(rays.num, num_samples, num_segments), jnp.int32)

  kept = {}
  if select:
    kept_requested = jnp.stack([coarse_pass.kept, fine_pass.kept])
    kept_budget = jnp.array(budget.kept, jnp.int32)
    overflow = overflow + jnp.sum(jnp.maximum(kept_requested - kept_budget, 0))
    kept = dict(kept_requested=kept_requested,
                kept_capacity=jnp.array([sum(_segment_capacity(rays.num, n, 1))
                                         for n in (r.N_samples, z_all.shape[1])], jnp.int32),
                kept_evaluated=jnp.sum(jnp.minimum(kept_requested, kept_budget)))

  fine_reused = jnp.sum(initial[2], dtype=jnp.int32) if reuse else jnp.zeros((), jnp.int32)
  touched = jnp.any(coarse_pass.evaluated, 1) | jnp.any(fine_pass.evaluated, 1)
  stats = MarchStats(coarse_requested=coarse_pass.requested, fine_requested=fine_pass.requested,
                     coarse_capacity=capacity(r.N_samples, len(budget.coarse)),
                     fine_capacity=capacity(z_all.shape[1], len(budget.fine)),
                     coarse_evaluated=coarse_pass.num_evaluated,
                     fine_evaluated=fine_pass.num_evaluated, fine_reused=fine_reused,
                     fine_interpolated=fine_pass.num_evaluated if interpolate
                     else jnp.zeros((), jnp.int32), fine_unbracketed=unbracketed,
                     coarse_interpolated=coarse_interpolated,
                     overflow=overflow, rays_skipped=jnp.sum(~touched, dtype=jnp.int32), **kept)
  out = RenderOutput(coarse=coarse, fine=fine, z_fine=z_all, offsets_fine=offsets_fine,
                     sigma_coarse=raw_coarse[..., 3], sigma_fine=raw[..., 3],
                     z_std=jnp.std(depths.samples, -1))
  return out, stats


def _segment_capacity(num_rays: int, num_samples: int, num_segments: int) -> list[int]:
  """Samples in each depth segment of a pass of `num_samples` per ray (background sample excluded)."""
  return [num_rays * (hi - lo) for lo, hi in _segment_bounds(num_samples - 1, num_segments)]


def _segment_budget(value: float, capacity: int, granularity: int) -> int:
  """`value` rounded up to a multiple of `granularity` (an eighth of `capacity` if that is smaller,
  so that small batches are not rounded up to everything), and never above `capacity`."""
  step = max(1, min(granularity, math.ceil(capacity / 8)))
  return min(capacity, max(step, step * math.ceil(value / step)))


def num_segments(render_config: ml_collections.ConfigDict, train: bool) -> int:
  """Depth segments per pass: `accel.num_segments`, or 1 where that mode does not terminate rays.

  Segments exist so that termination can be checked between them; without termination (training's
  default, `accel.train_termination_threshold` = 0) one segment per pass evaluates the same samples
  with one network call site per pass instead of one per segment: a faster step that compiles in a
  fraction of the time.
  """
  a = render_config.accel
  termination = a.train_termination_threshold if train else a.termination_threshold
  return a.num_segments if termination > 0.0 else 1


def initial_budget(num_rays: int, render_config: ml_collections.ConfigDict, *,
                   train: bool = False) -> SampleBudget:
  """A first budget: `accel.initial_fraction` of every segment's samples, rounded as `fit_budget` does.

  `train` picks the training step's segments (`num_segments`), else rendering's.
  """
  r, a = render_config, render_config.accel
  count = num_segments(render_config, train)

  def segments(num_samples, num):
    return tuple(_segment_budget(cap * a.initial_fraction, cap, a.budget_granularity)
                 for cap in _segment_capacity(num_rays, num_samples, num))

  passes = (r.N_samples, r.N_samples + r.N_importance)
  kept = ()
  if train and a.train_selection:
    kept = tuple(segments(n, 1)[0] for n in passes)
  return SampleBudget(coarse=segments(passes[0], count), fine=segments(passes[1], count), kept=kept)


def fit_budget(stats: MarchStats, *, headroom: float, granularity: int) -> SampleBudget:
  """The budget for the next call (host side): requested samples x headroom, rounded up.

  Each segment's budget is rounded up to a multiple of `granularity` (or of an eighth of the
  segment's samples when that is smaller: a train step's few hundred rays) and capped at the
  segment's samples, so it never exceeds the dense path's work. Rounding keeps the number of
  distinct budgets, hence of compilations, small.
  """
  def segments(requested, capacity):
    return tuple(_segment_budget(float(req) * headroom, int(cap), granularity)
                 for req, cap in zip(np.asarray(requested), np.asarray(capacity)))

  kept = ()
  if stats.kept_requested is not None:
    kept = segments(stats.kept_requested, stats.kept_capacity)
  return SampleBudget(coarse=segments(stats.coarse_requested, stats.coarse_capacity),
                      fine=segments(stats.fine_requested, stats.fine_capacity), kept=kept)


def next_budget(budget: SampleBudget, stats: MarchStats, *, headroom: float, granularity: int,
                shrink_below: float) -> SampleBudget:
  """The budget for the next call (host side), with hysteresis.

  Refits (`fit_budget`) when samples were dropped, or when the refit total is below `shrink_below`
  times the current total (the padding of an oversized budget is evaluated like real samples);
  otherwise keeps `budget`, so that small changes between frames or steps do not recompile.
  """
  needed = fit_budget(stats, headroom=headroom, granularity=granularity)
  total = sum(budget.coarse) + sum(budget.fine) + sum(budget.kept)
  if (int(stats.overflow) > 0
      or sum(needed.coarse) + sum(needed.fine) + sum(needed.kept) < shrink_below * total):
    return needed
  return budget
