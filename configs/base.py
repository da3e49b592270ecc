"""Base model, the paper's schedule: 300k warp-free steps, then 100k joint steps with the warp.

  dfrf-train --config=configs/base.py --config.data_dir=dataset/base --workdir=runs/base

data_dir holds identity folders 0, 1, ..., K-1 (the paper: 3 videos, ~3 min in total). The authors'
released code has no warp-free stage (warp always on, 400k steps suffice per their issue #15): add
--config.train.warp_start_step=0 for that.

Runtime: an estimate, not measured: ~2.8 TFLOP per step (spec section 13), so roughly 0.05-0.1 s per
step on one H100, i.e. about 6-12 hours for the 400k steps; the authors report days on an RTX 3090.
Expected result: a base model whose training PSNR (fine pass, sampled rays) reaches the high 20s dB;
it is meant to be fine-tuned (configs/finetune.py), not used directly.
"""

import ml_collections

from dfrf_jax import config as default


def get_config() -> ml_collections.ConfigDict:
  c = default.default_config()
  c.train.N_iters = 400_000
  c.train.warp_start_step = 300_000
  c.train.i_img = 5000
  return c
