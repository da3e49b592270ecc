"""Fine-tuning on a 10-20 s clip of a new identity, as the authors' run.sh + rendering settings.

  dfrf-import-torch --checkpoint=base.tar --out=runs/base      # or a base trained with configs/base.py
  dfrf-train --config=configs/finetune.py --config.data_dir=dataset/<id> --workdir=runs/<id> \\
      --config.init_from=runs/base

The authors' test_config.txt settings (32 + 64 samples, 4 references) with their lr schedule (5e-4,
x0.1 per 750k steps; AudioAttNet at 5x); the warp MLP is re-initialised and the optimiser fresh, as
their ft_path path does. Their fine-tune keeps counting from base.tar's global_step;
--config.train.start_step=-1 does that, the default starts at 0 (smoothing from step 100000 would then
never start in a 40k-step fine-tune, so nosmo_iters is set to the paper's few-shot scale below).

Runtime: an estimate, not measured: ~1.6 TFLOP per step, roughly 0.03-0.06 s per step on one H100,
i.e. 20-40 minutes for 40k steps (the paper: 1k-50k steps; the authors: 10k-40k suffice).
Expected result: renders of the new identity's val frames at about the paper's PSNR (~30 dB on
512 px clips) after 40k steps.
"""

import ml_collections

from dfrf_jax import config as default


def get_config() -> ml_collections.ConfigDict:
  c = default.default_config()
  c.render.N_samples, c.render.N_importance = 32, 64
  c.model.num_reference_images = 4
  c.train.N_iters = 40_000
  c.train.nosmo_iters = 20_000
  c.train.i_img = 2000
  return c
