import numpy as np
import pytest


@pytest.fixture
def rng():
    """A fresh Generator per test, so tests never depend on each other's draws."""
    return np.random.default_rng(231)


@pytest.fixture(autouse=True)
def global_numpy_random_state_untouched():
    """Every test also checks that nnctl never draws from NumPy's global random state."""
    before = np.random.get_state()  # noqa: NPY002 - reading it is the point
    yield
    after = np.random.get_state()  # noqa: NPY002
    assert before[0] == after[0] and before[2:] == after[2:]
    assert np.array_equal(before[1], after[1]), "NumPy's global random state was used"
