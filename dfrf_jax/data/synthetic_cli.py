"""Command line: write the synthetic talking-head dataset (`dfrf-make-synthetic --out=DIR`)."""

from collections.abc import Sequence

from absl import app
from absl import flags

from dfrf_jax.cli import run_cli
from dfrf_jax.data import synthetic

_OUT = flags.DEFINE_string('out', None, 'Output root; receives base/ and <finetune_name>/.')
_IMAGE_SIZE = flags.DEFINE_integer('image_size', synthetic.SynthSpec.image_size,
                                   'Square image side, pixels.')
_NUM_FRAMES = flags.DEFINE_integer('num_frames', synthetic.SynthSpec.num_frames,
                                   'Video frames per identity (25 fps).')
_NUM_BASE_IDS = flags.DEFINE_integer('num_base_ids', synthetic.SynthSpec.num_base_ids,
                                     'Identities under base/.')
_FINETUNE_NAME = flags.DEFINE_string('finetune_name', synthetic.SynthSpec.finetune_name,
                                     'Folder of the held-out fine-tuning identity.')
_SEED = flags.DEFINE_integer('seed', synthetic.SynthSpec.seed, 'Seeds every identity.')
_TRAIN_FRACTION = flags.DEFINE_float('train_fraction', synthetic.SynthSpec.train_fraction,
                                     'Share of frames, from the start, in the train split.')
_JPEG_QUALITY = flags.DEFINE_integer('jpeg_quality', synthetic.SynthSpec.jpeg_quality,
                                     'JPEG quality.')
_OVERWRITE = flags.DEFINE_bool('overwrite', False,
                               'Replace existing base/ and <finetune_name>/ folders.')


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {" ".join(argv[1:])}')
  spec = synthetic.SynthSpec(image_size=_IMAGE_SIZE.value, num_frames=_NUM_FRAMES.value,
                             num_base_ids=_NUM_BASE_IDS.value, finetune_name=_FINETUNE_NAME.value,
                             seed=_SEED.value, train_fraction=_TRAIN_FRACTION.value,
                             jpeg_quality=_JPEG_QUALITY.value)
  summaries = synthetic.write_dataset(_OUT.value, spec, overwrite=_OVERWRITE.value)
  print(f'synthetic dataset in {_OUT.value}: {spec.image_size}x{spec.image_size} px, '
        f'{spec.num_frames} frames per identity at 25 fps')
  for s in summaries:
    print(f'  {s.path}: {s.num_train} train + {s.num_val} val frames, '
          f'near {s.near:.4f}, far {s.far:.4f}')


def run() -> None:
  """Console entry point `dfrf-make-synthetic`."""
  run_cli(main, __doc__, ['out', 'image_size', 'num_frames', 'num_base_ids', 'finetune_name', 'seed',
                          'train_fraction', 'jpeg_quality', 'overwrite'], ['out'])


if __name__ == '__main__':
  run()
