#!/usr/bin/env bash
# The main job, end to end on the embedded synthetic dataset (about 10-15 minutes on a 2-core CPU):
#   1. generate talking heads: 3 base identities and a held-out one (64x64, 100 frames each);
#   2. train a small base model across the base identities;
#   3. fine-tune it on the first half of the held-out identity;
#   4. render that identity's second half (unseen frames and audio) to PNGs and an mp4 with audio;
#   5. print PSNR/SSIM against the ground truth next to the background-only baseline, and the lip-sync
#      scores (the mouth against the true opening, and with the audio reversed) next to a frozen mouth.
#
#   scripts/demo.sh            # everything under demo_out/
#   scripts/demo.sh DIR        # everything under DIR/
# On a GPU the same command trains a wider network for longer.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_env.sh
out="${1:-demo_out}"
export PYTHONUNBUFFERED=1

overrides=()
if [ "$(python -c 'import jax; print(jax.default_backend())')" = "gpu" ]; then
  echo "[demo] GPU found: wider networks, more samples and steps"
  overrides=(--config.model.netwidth=256 --config.model.netwidth_fine=256 --config.model.netdepth=8
             --config.model.skips='(4,)' --config.render.N_samples=32 --config.render.N_importance=64
             --config.data.N_rand=1024)
  base_steps=4000; finetune_steps=2000
else
  base_steps=${DEMO_BASE_STEPS:-400}; finetune_steps=${DEMO_FINETUNE_STEPS:-250}
fi

echo "[demo] 1/4 synthetic dataset -> $out/data"
python -m dfrf_jax.data.synthetic_cli --out="$out/data" --overwrite

echo "[demo] 2/4 base model on $out/data/base ($base_steps steps)"
rm -rf "$out/base" "$out/finetune" "$out/render"
python -m dfrf_jax.train --config=configs/demo.py --config.data_dir="$out/data/base" \
  --workdir="$out/base" --config.train.N_iters="$base_steps" "${overrides[@]}"

echo "[demo] 3/4 fine-tune on $out/data/finetune ($finetune_steps steps)"
python -m dfrf_jax.train --config=configs/demo.py --config.data_dir="$out/data/finetune" \
  --workdir="$out/finetune" --config.init_from="$out/base" \
  --config.train.N_iters="$finetune_steps" "${overrides[@]}"

echo "[demo] 4/4 render the held-out frames -> $out/render"
python -m dfrf_jax.render.main --workdir="$out/finetune" --data_dir="$out/data/finetune" \
  --out="$out/render" --audio_swap
echo "[demo] done: $out/render/render.mp4, $out/render/metrics.json, TensorBoard logs in $out/base and $out/finetune"
