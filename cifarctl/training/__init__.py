"""Training a model: one run, or a sweep of runs, from settings to saved model files.

    runs.py         what `cifarctl train` does around its run(s): outputs, locks, data, signals
    loop.py         train() and train_one_epoch(): the tutorial's loop, top to bottom
    start.py        how a run starts: fresh or from its checkpoint, seed, threads, size
    parts.py        the torch objects a recipe asks for, built complete for a run's length
    epochs.py       an epoch's mini-batches from tensors in memory
    state.py        the run's position (RunState)
    checkpoint.py   the checkpoint: saved, checked, restored
    progress.py     what a run says while it runs, and its metrics log
    time_budget.py  fitting a run's length to --time-budget
    sizing.py       which size of a family a budget trains
    measuring.py    held-out accuracy, honouring stop requests
    context.py      where a run runs and whom it tells (Context, ResumePolicy)
    settings.py     what a run is (family, options, recipe, seed, length), as plain data
    result.py       what a finished run reports (TrainResult)
    sweep.py        repeated runs and their comparison; sweep_plan.py: which runs (no torch)
    run_files.py    the names of the files a run writes (no torch)
    data_fit.py     the batch of a small dataset, the sampling or class weights of an imbalanced one
    weighted_loss.py  the recipe's cross-entropy, weighted per class when asked
    class_report.py macro-F1 and per-class recall at the end of a run on imbalanced data
    init_from.py    starting from a trained model file (--init-from, --freeze-backbone)
    metrics.py      the metrics log (JSON lines) and its readers
    tensorboard.py  the optional TensorBoard sink
    distributed.py  torchrun: ranks, collectives, one writer
    tuning.py       `tune`: an Optuna study, trial after trial, the best confirmed over fresh seeds
    trials.py       a study's runs: a trial that Optuna hears each epoch, and the confirming re-runs
    study.py        the Optuna side: database, study and what it belongs to, pruners, trials read back
    tune_result.py  what a study reports (trials, best, re-runs, importances) and its --json
    tune_events.py  what a study says while it runs (StudyEvents)
    tune_jobs.py    `tune --jobs N`: trials in N processes sharing the study's database

Nothing here is imported by `cifarctl --help`; importing the package imports nothing.
"""
