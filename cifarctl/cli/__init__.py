"""The command-line layer: the only package that imports typer and rich.

    app.py                    the root callback, command registration, `run()` and `main()`
    startup.py                how every command starts: its Config (`CommandConfig`) and its UI
    options.py                options several commands share
    download.py, preview.py, train.py, train_sweep.py, tune.py, evaluate.py, predict.py, export.py,
    plot.py, benchmark_gpu.py one module a command
    train_reports.py, sweep_reports.py, tune_reports.py, evaluate_reports.py, benchmark_reports.py
                              what a command prints as tables, one module per command (or kind of run)
    tune_progress.py          a study's live table on stderr (its StudyEvents)
    tune_pictures.py          a study's result as the plain data of its picture
    ui.py                     the UI: results on stdout, progress and logs on stderr
    streams.py                stdout and stderr that survive a reader that left
    progress_events.py        the Events the core reports to, drawn live or as plain lines
    progress_text.py          amounts, rates and clock times as text
    pictures.py, sparkline.py images and series drawn as text
    explained.py              --explain of predict and evaluate: heatmaps computed, drawn, in --json
    completions.py            shell-completion scripts
"""
