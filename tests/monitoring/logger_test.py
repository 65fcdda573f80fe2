"""The trainer's gradient statistics in TensorBoard, read back from the event files.

A real run of the default model on MNIST-1D (2,000 examples, 125 x 2 accumulated per
update, LARS): B_simple is logged and grows as the loss falls (McCandlish et al.'s
observation), and the trust ratios logged for LARS equal the ratio recomputed in NumPy
from the weight and gradient norms logged at the same step.
"""

import os

import numpy as np
import pytest

from lbkeras.training import ExperimentConfig, run
from tests.event_files import read_scalars, scalar_tags


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    model_dir = str(tmp_path_factory.mktemp("run"))
    config = ExperimentConfig(
        model_dir=model_dir,
        data_dir=str(tmp_path_factory.mktemp("data")),
        dataset_options={"num_train": 2000, "num_eval": 500},
        global_batch_size=125,
        accumulation_steps=2,
        warmup_epochs=1.0,
        epochs=8.0,
        monitor_every_steps=2,
        verbose=0,
    )
    run(config)
    return config, os.path.join(model_dir, "logs", "train")


def test_b_simple_is_logged_and_grows_as_the_loss_falls(logs):
    config, train_dir = logs
    b_simple = read_scalars(train_dir, "noise_scale/b_simple")
    assert sorted(b_simple) == list(range(0, 64, 2))  # every 2 of the 64 updates
    values = np.array([b_simple[step] for step in sorted(b_simple)])
    assert np.all(values > 0)
    first, last = values[:8].mean(), values[-8:].mean()
    loss = read_scalars(train_dir, "loss")
    assert loss[max(loss)] < 0.6 * loss[min(loss)]  # the loss fell...
    assert last > 1.5 * first  # ...and the noise scale grew
    over = read_scalars(train_dir, "noise_scale/batch_over_b_simple")
    np.testing.assert_allclose(over[10], 2 * 125 / b_simple[10], rtol=1e-5)


def test_lars_trust_ratios_equal_the_formula_on_the_logged_norms(logs):
    config, train_dir = logs
    # Layer names depend on how many models the process built before: read them back.
    paths = sorted(
        t.split("/", 1)[1] for t in scalar_tags(train_dir) if t.startswith("trust_ratio/")
    )
    kernels = [path for path in paths if path.endswith("/kernel")]
    assert len(kernels) == 5  # 4 convolutions and the logits
    for path in kernels:
        weight = read_scalars(train_dir, f"weight_norm/{path}")
        gradient = read_scalars(train_dir, f"gradient_norm/{path}")
        ratio = read_scalars(train_dir, f"trust_ratio/{path}")
        for step in (2, 30, 62):
            # LARS: eta ||w|| / (||g|| + beta ||w|| + eps), eta 0.001, beta 1e-3, eps 1e-9.
            expected = 0.001 * weight[step] / (gradient[step] + 1e-3 * weight[step] + 1e-9)
            np.testing.assert_allclose(ratio[step], expected, rtol=1e-4, err_msg=(path, step))
    one_dimensional = [path for path in paths if path.endswith(("/bias", "/gamma", "/beta"))]
    assert len(one_dimensional) == 9  # excluded from adaptation: ratio 1
    for path in one_dimensional:
        assert set(read_scalars(train_dir, f"trust_ratio/{path}").values()) == {1.0}, path


def test_the_global_norm_is_the_norm_of_the_per_variable_norms(logs):
    _, train_dir = logs
    total = read_scalars(train_dir, "gradients/global_norm")
    tags = sorted(tag for tag in scalar_tags(train_dir) if tag.startswith("gradient_norm/"))
    assert len(tags) == 14  # 4 convolutions, 4 batch norms (gamma, beta), the logits
    for step in (0, 20, 62):
        parts = np.array([read_scalars(train_dir, tag)[step] for tag in tags])
        np.testing.assert_allclose(total[step], np.sqrt((parts**2).sum()), rtol=1e-5)
