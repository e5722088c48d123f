"""The networks of the training benchmark, (a)-(d) with their targets against PyTorch, and
one epoch of each as nnctl and as PyTorch train it: shared by bench_training and
step_profile."""

import numpy as np

from nnctl.models import FullyConnectedNet
from nnctl.training.solver import Solver

N, D, C = 49_000, 3072, 10
THREADS = 2
CASES = {
    "(a) 3072-100-10 relu, sgd, batch 100": dict(
        hidden=[100], rule="sgd", lr=1e-3, batch=100, target=1.5
    ),
    "(b) 3072-[100]x5-10, adam, batch 200": dict(
        hidden=[100] * 5, rule="adam", lr=1e-3, batch=200, target=1.5
    ),
    "(c) as (b) + batchnorm + dropout 0.5": dict(
        hidden=[100] * 5, rule="adam", lr=1e-3, batch=200, bn=True, dropout=0.5, target=1.5
    ),
    "(d) 3072-500-10, sgd, batch 200": dict(
        hidden=[500], rule="sgd", lr=1e-3, batch=200, target=1.2
    ),
}


def nnctl_epoch(X, y, case):
    model = FullyConnectedNet(
        case["hidden"], input_dim=D, num_classes=C, normalization="batchnorm" if case.get("bn") else None,
        dropout=case.get("dropout", 0.0), init="he", seed=0,
    )  # fmt: skip
    data = {"X_train": X, "y_train": y, "X_val": X[:100], "y_val": y[:100]}

    def epoch():
        # A new Solver per call (as PyTorch keeps its network, the model keeps training).
        solver = Solver(
            model, data, update_rule=case["rule"], optim_config={"learning_rate": case["lr"]}, batch_size=case["batch"],
            num_epochs=1, num_train_samples=100, verbose=False, rng=np.random.default_rng(0),
        )  # fmt: skip
        solver.train()

    return epoch


def torch_epoch(Xt, yt, case):
    import torch

    layers, d = [], D
    for h in case["hidden"]:
        layers.append(torch.nn.Linear(d, h))
        if case.get("bn"):
            layers.append(torch.nn.BatchNorm1d(h))
        layers.append(torch.nn.ReLU())
        if case.get("dropout"):
            layers.append(torch.nn.Dropout(case["dropout"]))
        d = h
    layers.append(torch.nn.Linear(d, C))
    net = torch.nn.Sequential(*layers)
    opt = (torch.optim.SGD if case["rule"] == "sgd" else torch.optim.Adam)(
        net.parameters(), lr=case["lr"]
    )
    loss_fn = torch.nn.CrossEntropyLoss()
    batch = case["batch"]

    def epoch():
        net.train()
        perm = torch.randperm(N)
        for start in range(0, N, batch):
            idx = perm[start : start + batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(Xt[idx]), yt[idx])
            loss.backward()
            opt.step()

    return epoch, net


def training_data():
    """(X, y, Xt, yt): N random CIFAR-sized float32 rows and labels, and the same memory as
    torch tensors, with PyTorch held to THREADS threads."""
    import torch

    torch.set_num_threads(THREADS)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, D), dtype=np.float32)
    y = rng.integers(C, size=N)
    return X, y, torch.from_numpy(X), torch.from_numpy(y)
