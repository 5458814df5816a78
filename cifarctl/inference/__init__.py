"""Using a trained model: reading model files, evaluating, predicting on images, exporting.

    model_files.py     self-describing model files and the one loader every command uses
    provenance.py      the record in a model file of what made it (cifarctl version, settings)
    dataset_choice.py  which dataset models are measured on (no torch)
    evaluation.py      accuracy, per class and confusion, over a split held in memory
    calibration.py     whether a model's confidence matches how often it is right
    repeats.py         whether model files are repeated runs of one recipe (a mean ± std describes only those)
    prediction.py      classifying image files (decoded in worker processes)
    images.py          decoding user images to 32x32 RGB
    export.py          TorchScript, exported programs and ONNX, each reloaded and checked
    explain.py         Grad-CAM heatmaps of the top class, with the optional Captum (--explain)
"""

# Images per forward pass when a trained model classifies a split or image files (evaluate,
# predict, train --eval-every, each run of a sweep): any size gives the same result. 250 keeps a
# batch's feature maps in the CPU's caches: the fast network classifies 1.4-1.7x faster than at
# 1,000 on a 2-core AVX2 CPU (benchmarks/inference_speed.py; docs/benchmarks.md). No torch here,
# so commands use it as a default.
EVALUATION_BATCH = 250
