"""Training a model: one run from its settings to a saved model file.

    loop.py         train(): the tutorial's loop, top to bottom, with the step in view
    parts.py        the torch objects a recipe asks for, built complete for a run's length
    checkpoint.py   the run's position, saved and restored in both directions
    settings.py     what a run is (family, options, recipe, seed, length), as plain data
    run_files.py    the names of the files a run writes (torch-free)
    time_budget.py  fitting a run's length to --time-budget
    data_fit.py     the batch of a small dataset, the class weights of an imbalanced one
    weighted_loss.py  the recipe's cross-entropy, weighted per class when asked
    class_report.py macro-F1 and per-class recall at the end of a run on imbalanced data
    init_from.py    starting from a trained model file (--init-from, --freeze-backbone)
    metrics.py      the metrics log (JSON lines) and its readers
    tensorboard.py  the optional TensorBoard sink
    distributed.py  torchrun: ranks, collectives, one writer

Nothing here is imported by `cifarctl --help`; importing the package imports nothing.
"""
