"""After a short training with mouth rays, the audio drives the mouth: open audio, darker mouth.

A tiny model (configs/test.py) trains 300 steps from scratch on a generated synthetic talking head,
90% of its rays inside lip_rect. One val pose is then rendered twice, driven by the audio of the
most open and of the most closed train frame, and the mean luminance of its mouth box must differ
in the ground truth's direction by a good share of the ground truth's difference (measured: 0.52 of
it; 0.0 without mouth rays, -0.006 measured, which is what a model that ignores its audio gives).
"""

import json
import os

import jax
import numpy as np
import pytest

from dfrf_jax import api
from dfrf_jax.data import synthetic
from dfrf_jax.data.audio_windows import smoothing_window
from dfrf_jax.data.dataset import split_aud_windows
from dfrf_jax.eval import lipsync
from dfrf_jax.train import loop, validation


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  root = tmp_path_factory.mktemp('audio_mouth')
  synthetic.write_dataset(str(root / 'data'), synthetic.SynthSpec(num_base_ids=0, train_fraction=0.8))
  config = api.load_config('test', data_dir=str(root / 'data' / 'finetune'))
  t = config.train
  t.N_iters, t.i_weights, t.i_img, t.nosmo_iters, t.dead_field_patience = 300, 300, 10**9, 10**9, 0
  config.data.lip_sample_rate = 0.9
  state = loop.train(config, str(root / 'run'))
  return config, jax.device_get(state.params)


def _mouth_luminance(image: np.ndarray, box: np.ndarray) -> float:
  return float(lipsync.crop_mouths(image[None], box[None]).mean())


def test_open_audio_renders_a_darker_mouth_than_closed_audio(trained):
  config, params = trained
  identity = api.load_dataset(config)[0]
  train = identity.train
  with open(os.path.join(identity.root, 'synth_meta.json')) as f:
    meta = json.load(f)
  opening = np.asarray(meta['mouth_opening'])[train.img_ids]
  most_open, most_closed = int(np.argmax(opening)), int(np.argmin(opening))
  assert opening[most_open] > 0.5 and opening[most_closed] < 0.05
  frame = api.load_frame(identity, config, 0)
  near, far = api.near_far([identity], config)
  model = api.build_model(config.model)
  windows = split_aud_windows(identity, train)

  def render(position: int) -> np.ndarray:
    aud = smoothing_window(windows, position, config.model.smo_size, valid_count=len(train))
    rgb, _ = validation.render_val(model, params, frame.replace(aud=aud), config, near, far,
                                   jax.random.key(0), smoothing=False, use_warp=True)
    return rgb

  size = frame.image.shape[:2]
  box = lipsync.fixed_size_boxes(np.asarray(meta['mouth_box'])[identity.val.img_ids[:1]], *size)[0]
  rendered = _mouth_luminance(render(most_open), box) - _mouth_luminance(render(most_closed), box)
  boxes = lipsync.fixed_size_boxes(np.asarray(meta['mouth_box'])[train.img_ids], *size)
  truth = (_mouth_luminance(identity.image(train, most_open), boxes[most_open])
           - _mouth_luminance(identity.image(train, most_closed), boxes[most_closed]))
  assert truth < -0.03  # an open mouth is darker
  assert rendered / truth > 0.25, (rendered, truth)
