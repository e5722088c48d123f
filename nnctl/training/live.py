"""Loggers that follow training as it happens (`train.log_to`): Solver callbacks, each made
from the folder it writes into, named in LIVE_LOGGERS (the schema takes train.log_to's allowed
values from there).

The scalars they write, and `nnctl export` writes too (nnctl.export.source):

    step/loss        the loss of every update            step = the update's number
    epoch/<column>   each column of the epoch's record   step = the epoch (1-based)
                     (history.csv: loss, train_acc, ...)
"""

from pathlib import Path

from nnctl.errors import ConfigError
from nnctl.registry import Registry
from nnctl.training.solver import Callback

STEP_LOSS = "step/loss"
TENSORBOARD_INSTALL = "pip install 'nnctl[tensorboard]'"


def epoch_tag(column):
    return f"epoch/{column}"


def summary_writer(error=ConfigError, what="train.log_to: [tensorboard]"):
    """tensorboardX's SummaryWriter class (an optional extra, imported when used); `error`
    saying how to install it when it is absent."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        raise error(f"{what} needs tensorboardX: {TENSORBOARD_INSTALL}") from None
    return SummaryWriter


class TensorBoardLogger(Callback):
    """TensorBoard event files in logdir while training: the loss after every update and the
    epoch's record after every epoch. A resumed run starts a new file that drops what its
    interrupted part wrote after the checkpoint (purge_step)."""

    def __init__(self, logdir):
        self.writer_class = self.require()
        self.logdir = Path(logdir)
        self.writer = None

    @staticmethod
    def require():
        """The writer class, or ConfigError saying how to install it (checked before a run
        makes its folder)."""
        return summary_writer()

    def on_train_start(self, solver):
        self.writer = self.writer_class(
            str(self.logdir), purge_step=solver.iteration or None, flush_secs=10
        )

    def on_step(self, solver, loss):
        self.writer.add_scalar(STEP_LOSS, loss, solver.iteration)

    def on_epoch_end(self, solver, record):
        for column, value in record.items():
            if column != "epoch" and value is not None:
                self.writer.add_scalar(epoch_tag(column), value, record["epoch"])
        self.writer.flush()

    def on_train_end(self, solver):
        self.writer.close()


LIVE_LOGGERS = Registry("live logger", {"tensorboard": TensorBoardLogger})
