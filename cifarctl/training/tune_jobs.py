"""`tune --jobs N`: N processes run trials of one study side by side, sharing it through its database.

Each process loads the data itself and trains with its share of the cores (never more threads
than cores in all); Optuna's TPE keeps them from proposing the same settings (its constant
liar). This process only watches the database and reports each trial as it ends. A stop
request (Ctrl-C, SIGTERM) is passed on to every worker, which saves its running trial as
failed and exits; the command then stops with the signal's exit code. A worker that fails
stops the others.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
from typing import Any

from cifarctl.errors import CifarctlError, Interrupted
from cifarctl.training.study import trial_records
from cifarctl.training.tune_events import StudyEvents

POLL_S = 1.0  # how often the database is read for trials that started or ended


def run_in_processes(request, seed: int, threads: int, handle, events: StudyEvents, stop) -> int:
    """Run the study's remaining trials in `request.jobs` processes; how many ended meanwhile."""
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked torch threads or locks
    results = context.Queue()
    job = dataclasses.replace(request, seed=seed, threads=threads, jobs=1)
    workers = [context.Process(target=work, args=(job, index, results), name=f"cifarctl-tune-{index}")
               for index in range(request.jobs)]
    states = {record.number: record.state for record in trial_records(handle.study)}
    outcomes: list[tuple[int, int, str]] = []
    ended = 0
    for worker in workers:
        worker.start()
    try:
        forwarded = False
        while any(worker.is_alive() for worker in workers):
            ended += _report_changes(handle.study, states, events)
            while not results.empty():  # drained as they come: a worker cannot end before its result is read
                outcomes.append(results.get())
            if (stop() or any(code != 0 for _, code, _ in outcomes)) and not forwarded:
                _signal_all(workers, signal.SIGTERM)  # each saves its running trial as failed and ends
                forwarded = True
            multiprocessing.connection.wait([worker.sentinel for worker in workers if worker.is_alive()], POLL_S)
    except BaseException:
        _signal_all(workers, signal.SIGTERM)
        for worker in workers:
            worker.join()
        raise
    ended += _report_changes(handle.study, states, events)
    while not results.empty():
        outcomes.append(results.get())
    _raise_first_failure(outcomes, stop)
    return ended


def _raise_first_failure(outcomes: list[tuple[int, int, str]], stop) -> None:
    failures = [(code, message) for _, code, message in outcomes if code != 0]
    others = [(code, message) for code, message in failures if code < 128 and "interrupted" not in message]
    if others:
        code, message = others[0]
        error = CifarctlError(message)
        error.exit_code = code
        raise error
    if failures or stop():
        raise Interrupted("interrupted: the trials that were running are kept as failed, every finished one is "
                          "kept; rerun the same command to continue the study")


def _report_changes(study: Any, states: dict[int, str], events: StudyEvents) -> int:
    """Tell `events` about trials that started or ended since the last look; how many ended."""
    ended = 0
    for record in trial_records(study):
        before = states.get(record.number)
        if record.state == before:
            continue
        states[record.number] = record.state
        if record.state == "running":
            events.trial_started(record.number, record.settings)
        elif record.state != "waiting":
            events.trial_ended(record)
            ended += 1
    return ended


def _signal_all(workers: list, signum: int) -> None:
    for worker in workers:
        if worker.is_alive() and worker.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signum)


def work(request, index: int, results) -> None:
    """A worker process's body: run trials, and put (index, exit code, message) in `results`."""
    _ends_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent passes a Ctrl-C on (as SIGTERM) once
    try:
        from cifarctl.training.tuning import run_worker

        run_worker(request, index)
        outcome = (index, 0, "")
    except CifarctlError as error:
        outcome = (index, error.exit_code, str(error))
    except KeyboardInterrupt:
        outcome = (index, 130, "interrupted")
    except BaseException as error:  # a bug: said in one line by the parent
        outcome = (index, 1, f"internal error in a --jobs process: {type(error).__name__}: {error}")
    results.put(outcome)
    results.close()
    results.join_thread()


def _ends_with_parent() -> None:
    """A worker whose parent dies (kill -9) is sent SIGTERM: it saves its trial as failed and ends."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - no prctl
            pass
    if os.getppid() == 1:  # the parent died before the line above took effect
        os._exit(1)
