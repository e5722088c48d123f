"""nnctl's error hierarchy.

Library code raises these; the command line turns any of them into one line on stderr and an
exit code, so a user's mistake never shows up as a traceback.
"""


class NnctlError(Exception):
    """Base of every error nnctl raises on purpose. `exit_code` is what the CLI exits with."""

    exit_code = 1


class UserInputError(NnctlError, ValueError):
    """The user's input was wrong (bad config, bad arguments, missing data): exit code 2."""

    exit_code = 2


class ConfigError(UserInputError):
    """An experiment file or override is malformed, ill-typed or impossible."""


class DatasetError(UserInputError):
    """A dataset is missing, corrupt, truncated or does not match what was asked of it."""


class RunError(UserInputError):
    """A run folder is missing, incomplete, or cannot be used the way it was asked."""


class ExperimentFailed(NnctlError):
    """An experiment ran and failed or diverged: exit code 1."""


class ModelError(UserInputError):
    """A model was given settings or inputs it cannot work with (shapes, k, names)."""


class Interrupted(NnctlError):
    """The user stopped a run (Ctrl-C / SIGTERM); it left a checkpoint to resume from."""

    exit_code = 130


class ExportError(UserInputError):
    """An export cannot be written as asked: its tool is not installed, or the destination (a
    TensorBoard folder, an MLflow tracking store) refuses it."""
