"""dfrf-evaluate: metrics of rendered frames against an identity's ground-truth frames.

  dfrf-evaluate --pred=OUT_DIR/frames --data_dir=DATASET [--out=metrics.json]

The i-th PNG of --pred (sorted by name) is compared with the i-th frame of the dataset's validation
list (transforms_val.json), as dfrf-render writes them; fewer frames than the list are an error unless
--allow_partial is given. Prints PSNR, SSIM (and LPIPS when
--lpips_alexnet and --lpips_lin name weight files) for the frames and for the background-only
baseline (the torso/background plates alone), then the lip-sync scores of the model, of a
frozen-mouth baseline and of the ground truth (dfrf_jax/eval/lipsync_report.py: against the true
mouth opening of a synthetic dataset, with dlib's mouth landmarks on real footage), and writes them
as JSON (lip-sync under 'lipsync') with the picture lipsync.png next to it.
"""

import os
import sys

from absl import app, flags
import numpy as np
from PIL import Image

from dfrf_jax import api
from dfrf_jax.cli import run_cli
from dfrf_jax.data.dataset import load_dataset
from dfrf_jax.errors import UserError
from dfrf_jax.eval import lipsync_report, report

_PRED = flags.DEFINE_string('pred', None, 'Folder of rendered PNG frames.')
_DATA_DIR = flags.DEFINE_string('data_dir', None, 'Dataset (holding 0/) with the ground truth.')
_OUT = flags.DEFINE_string('out', None, 'Metrics JSON (default: metrics.json next to --pred).')
_BC_TYPE = flags.DEFINE_string('bc_type', 'torso_imgs', 'Folder of the background plates.')
_LPIPS_ALEXNET = flags.DEFINE_string('lpips_alexnet', '', "torchvision's alexnet-owt-7be5be79.pth")
_LPIPS_LIN = flags.DEFINE_string('lpips_lin', '', "LPIPS' weights/v0.1/alex.pth")
_ALLOW_PARTIAL = flags.DEFINE_bool('allow_partial', False, 'Score fewer --pred frames than the '
                                   'validation list has (its first ones, e.g. dfrf-render '
                                   '--max_frames).')


def load_frames(folder: str) -> np.ndarray:
  """The PNG files of a folder in name order: [T, H, W, 3] float32 in [0, 1]."""
  names = sorted(n for n in os.listdir(folder) if n.endswith('.png'))
  if not names:
    raise UserError(f'{folder}: no .png frames; expected the frames/ folder dfrf-render writes')
  return np.stack([np.asarray(Image.open(os.path.join(folder, n)).convert('RGB'), np.float32) / 255
                   for n in names])


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  pred = load_frames(_PRED.value)
  identities = load_dataset(_DATA_DIR.value, _BC_TYPE.value)
  if len(identities) != 1:
    raise app.UsageError(f'{_DATA_DIR.value} holds {len(identities)} identities; pass the folder '
                         'of the one that was rendered')
  identity = identities[0]
  val = identity.val
  if len(pred) > len(val):
    raise UserError(f'{_PRED.value}: {len(pred)} frames, but {val.source} lists only {len(val)}')
  gt = np.stack([identity.image(val, i) for i in range(len(pred))])
  if gt.shape != pred.shape:
    raise UserError(f'{_PRED.value}: frames of shape {pred.shape[1:]}, expected {gt.shape[1:]} '
                    f'as in {val.source}')
  if len(pred) < len(val) and not _ALLOW_PARTIAL.value:
    raise UserError(f'{_PRED.value}: {len(pred)} frames, but {val.source} lists {len(val)}; '
                    'expected all of them (pass --allow_partial to score the first ones)')
  bg = np.stack([identity.background(val, i) for i in range(len(pred))])
  lpips_fn = api.lpips_fn_from_paths(_LPIPS_ALEXNET.value, _LPIPS_LIN.value)
  warning = report.background_only_warning(pred, bg)
  if warning:
    print(warning, file=sys.stderr)
  per_frame, summary = api.evaluate_frames(pred, gt, lpips_fn)
  baseline = api.baseline_metrics(bg, gt, lpips_fn)
  print(report.metrics_table([{'frames': 'rendered', **summary},
                              {'frames': 'background only', **baseline}]))
  out = _OUT.value or os.path.join(os.path.dirname(os.path.abspath(_PRED.value)), 'metrics.json')
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  lip = lipsync_report.score_identity(pred, gt, identity, val, np.arange(len(pred)),
                                      os.path.dirname(os.path.abspath(out)))
  print(lipsync_report.lipsync_table(lip))
  report.write_metrics_json(out, per_frame, {**summary, 'baseline': baseline, 'lipsync': lip})
  print(f'wrote {out}')


def run() -> None:
  """Console-script entry point."""
  run_cli(main, __doc__, ['pred', 'data_dir', 'out', 'bc_type', 'lpips_alexnet', 'lpips_lin',
                          'allow_partial'],
          ['pred', 'data_dir'])


if __name__ == '__main__':
  run()
