"""The metrics log's numbers as TensorBoard scalars, for `train --tensorboard DIR`.

TensorBoard is an optional extra (`pip install 'cifarctl[tensorboard]'`); asking for it
without the package installed is an error that says so, before any training starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cifarctl.data.guards import check_outside_any_dataset
from cifarctl.errors import CifarctlError, UsageError

INSTALL_HINT = "pip install 'cifarctl[tensorboard]'"
SCALARS = {  # record kind -> (TensorBoard tag, record key)
    "step": (("loss/running", "loss"), ("learning_rate", "lr")),
    "epoch": (("loss/epoch_mean", "train_loss"), ("accuracy/train", "train_accuracy"),
              ("accuracy/test", "test_accuracy"), ("accuracy/validation", "val_accuracy"),
              ("speed/images_per_second", "images_per_second")),
}


class TensorBoardSink:
    """Receives every metrics record and writes its numbers against the global step."""

    def __init__(self, log_dir: Path) -> None:
        log_dir = Path(log_dir)
        if log_dir.is_symlink() or (log_dir.exists() and not log_dir.is_dir()):
            raise UsageError(f"--tensorboard {log_dir} is not a folder; give a folder for the event files")
        check_outside_any_dataset(log_dir / "events", "--tensorboard")
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UsageError(f"--tensorboard {log_dir}: cannot create the folder ({error.strerror}); "
                             "give a folder that can be written") from None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise CifarctlError(f"--tensorboard needs the optional tensorboard package; install it with "
                                f"{INSTALL_HINT}, or train without --tensorboard") from None
        self.log_dir = log_dir
        self._writer_class = SummaryWriter
        self._writer = None

    def write(self, record: dict[str, Any]) -> None:
        step = record["global_step"]
        if self._writer is None:
            # TensorBoard drops events from this step on that an earlier process wrote here, so a
            # run resumed after a kill -9 shows no doubled stretch past its checkpoint.
            self._writer = self._writer_class(str(self.log_dir), purge_step=step)
        for tag, key in SCALARS.get(record.get("kind"), ()):
            value = record.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self._writer.add_scalar(tag, value, step)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
