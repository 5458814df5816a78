"""The fast recipe: airbench's ideas, tuned for short runs on a CPU or one GPU.

Nesterov SGD with a triangular schedule, label smoothing 0.2, alternating horizontal flips
and 2-pixel translations, batch-norm shifts learning 64x faster than the weights, bf16 where
the hardware has it, and flip test-time augmentation. Batch 256: on a 2-core CPU images/s
hardly change between 128 and 512, and at equal images 256 learned more than 512 (71 % vs
66 % after 30,000 images, docs/benchmarks.md). Measured in benchmarks/fast_vs_tutorial.py.
"""

from cifarctl.recipes import Recipe

RECIPE = Recipe(
    name="fast",
    epochs=10,
    batch_size=256,
    lr=0.6,
    momentum=0.85,
    nesterov=True,
    weight_decay=2e-6,  # tiny, as airbench's: the convolutions feed batch norm, so their scale is free
    label_smoothing=0.2,
    optimizer="sgd",
    schedule="triangular",
    warmup=0.2,
    flat_steps=8,
    augment="flip-translate",
    precision="auto",
    tta=True,
    epoch_report=True,
    log_every=20,
)
