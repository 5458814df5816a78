"""The fast recipe: airbench's ideas, tuned for short runs on a CPU or one GPU.

Nesterov SGD with a triangular schedule, label smoothing 0.2, alternating horizontal flips
and 2-pixel translations, large batches, bf16 where the hardware has it, and test-time
augmentation. Measured in docs/benchmarks.md (benchmarks/fast_vs_tutorial.py).
"""

from cifarctl.recipes import Recipe

RECIPE = Recipe(
    name="fast",
    epochs=4,
    batch_size=512,
    lr=0.6,
    momentum=0.85,
    nesterov=True,
    weight_decay=5e-4,
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
