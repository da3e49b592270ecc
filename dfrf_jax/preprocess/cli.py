"""`dfrf-preprocess --video clip.mp4 --out DATASET_DIR`: a user's video to a fine-tune dataset."""

from absl import app
from absl import flags

from dfrf_jax.cli import run_cli
from dfrf_jax.config import default_config
from dfrf_jax.preprocess import pipeline

_VIDEO = flags.DEFINE_string('video', None, 'Talking-head video (any format ffmpeg reads).')
_OUT = flags.DEFINE_string('out', None, 'Dataset folder to write; the identity goes to OUT/0.')
_SIZE = flags.DEFINE_integer('size', 512, 'Side of the square frames in pixels.')
_FPS = flags.DEFINE_float('fps', 25.0, 'Frame rate the video is resampled to.')
_TRAIN_SECONDS = flags.DEFINE_float('train_seconds', 15.0,
                                    'Seconds from the start used for training; the rest is val.')
_NUM_MELS = flags.DEFINE_integer('num_mels', 29, 'Log-mel bands per audio feature row (D); train '
                                 'with --config.model.aud_feature_dim=D.')
_AUDIO_FEATURES = flags.DEFINE_string('audio_features', None, 'Precomputed features .npy '
                                      '([T, 16, D] windows or [2T, D] rows) to use instead of '
                                      'log-mel features.')


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  config = default_config().preprocess
  config.size = _SIZE.value
  config.fps = _FPS.value
  config.train_seconds = _TRAIN_SECONDS.value
  config.audio.num_mels = _NUM_MELS.value
  report = pipeline.preprocess_video(_VIDEO.value, _OUT.value, config, _AUDIO_FEATURES.value)
  print(f'wrote {_OUT.value}/0: {report.num_frames} frames ({report.train_frames} train, '
        f'{report.val_frames} val), {report.frames_without_face} without a face, focal '
        f'{report.focal:.0f} px, reprojection {report.reprojection_px:.2f} px, near/far '
        f'{report.near:.3f}/{report.far:.3f}, audio {report.audio_features}')


def run() -> None:
  """Console-script entry point."""
  run_cli(main, __doc__, ['video', 'out', 'size', 'fps', 'train_seconds', 'num_mels',
                          'audio_features'], ['video', 'out'])


if __name__ == '__main__':
  run()
