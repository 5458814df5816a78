"""A small airbench-style network (the torch code is in network.py) and the fast recipe."""

from cifarctl.models.registry import Family, ModelOption
from cifarctl.recipes import Recipe

# The fast recipe: airbench94's ingredients (docs/benchmarks.md has the ablation behind each),
# at batch 256, where a 2-core CPU is as fast per image as at 1024 and each epoch has 4x the
# steps. Nesterov SGD, momentum 0.85; weight decay airbench's per example (lr x wd = 2e-3 per
# 1024 images); a triangular schedule from 0.2 up to the peak over 23 % of the run and down to
# 0.07 of it, after a flat start that a time budget times; label smoothing 0.2; alternating
# flips and 2-pixel translations; Lookahead every 5 steps; the whitening layer's bias learns
# for 3 epochs, then freezes (network.py's `freeze_stem`); the short last batch is dropped;
# bf16 where the CPU has it. The whitening filters are set from the data by `prepare`, and the
# batch-norm shifts get their own rate from `param_groups`. Not in it, each measured at equal
# time on a 2-core AVX2 CPU (docs/benchmarks.md, "The fast recipe where compute is scarce"):
# a 16x16 start (Recipe.low_res_share: even, +0.3 at 150 s and -0.2 at 252 s) and Muon on the
# conv filters (15 points behind).
FAST_BATCH, FAST_LR = 256, 0.6
# The sizes a --time-budget picks from, each with the epochs it needs to beat the size below at
# equal time: the largest whose measured speed affords its epochs wins (docs/benchmarks.md,
# "The fast recipe where compute is scarce"). 16/32/32 is for a minute on a slow CPU; 32/64/64
# buys the most in the tutorial's time on a 2-core AVX2 CPU (about 4 epochs there); 64/128/128
# from 3 epochs, which it affords in the tutorial's time on a CPU with AMX (85.0 %, round three);
# airbench94's widths once a budget affords them 10 epochs.
FAST_SIZES = (({"width": 16, "widen": 2}, 0.0), ({"width": 32, "widen": 2}, 1.5),
              ({"width": 64, "widen": 2}, 3.0), ({"width": 64, "widen": 4}, 10.0))
FAMILY = Family(
    name="fast",
    title="FastNet",
    summary="a small airbench-style net and recipe: the best accuracy per minute, fits --time-budget",
    recipe=Recipe(name="fast", epochs=10, batch_size=FAST_BATCH, lr=FAST_LR, momentum=0.85, nesterov=True,
                  weight_decay=2e-3 * FAST_BATCH / 1024 / FAST_LR, label_smoothing=0.2, optimizer="sgd",
                  schedule="triangular", warmup=0.23, lr_end=0.07, flat_steps=8, drop_last=True,
                  augment="flip-translate", lookahead=5, freeze_stem_after=3, precision="auto", tta=True,
                  epoch_report=True, log_every=20),
    options=(ModelOption("width", 64, 8, 1024, "channels of the first block"),
             ModelOption("widen", 2, 1, 8, "how many times wider the second and third blocks are (airbench94: 4)")),
    budget_sizes=FAST_SIZES,
    head="head", explain_layer="blocks.2",  # blocks.2: the third block's output, 3x3 (network.py)
    # `tune`'s default space: the recipe's rate, decay and smoothing around their values, and the width.
    search_space=("lr=0.2:2:log", "weight_decay=2e-4:4e-3:log", "label_smoothing=0:0.3", "width=32,64,96"),
)
