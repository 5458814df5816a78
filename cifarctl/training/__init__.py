"""Training a model: one run from its settings to a saved model file.

    loop.py         train(): the tutorial's loop, top to bottom, with the step in view
    parts.py        the torch objects a recipe asks for, built complete for a run's length
    checkpoint.py   the run's position, saved and restored in both directions
    settings.py     what a run is (family, options, recipe, seed, length), as plain data
    run_files.py    the names of the files a run writes (torch-free)
    time_budget.py  fitting a run's length to --time-budget
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
