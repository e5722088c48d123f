"""Run and sweep folders shown in the tools people already use.

    source.py       what a run or sweep folder holds, read once and checked, as exporters see it
    tensorboard.py  TensorBoard event files (tensorboardX): `nnctl export tensorboard`
    mlflow.py       MLflow runs through its client: `nnctl export mlflow`

Exporters read run folders through nnctl.runs and write only to their destination; nothing
here imports nnctl.experiment or anything above it. The live logger of `train.log_to` is a
Solver callback, so it lives below them all, in nnctl.training.live, which also names the
scalars both write. tensorboardX and MLflow are optional extras, imported when used.
"""
