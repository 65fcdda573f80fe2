"""lbkeras.data.get: names, routing of "tfds:NAME", errors, lazy TensorFlow imports."""

import ast
import inspect
import os

import pytest

from lbkeras import data
from lbkeras.data import base
from lbkeras.data.folder import FolderDataset
from lbkeras.data.imagenet import ImageNetDataset
from lbkeras.data.mnist1d import MNIST1DDataset
from lbkeras.data.synthetic import SyntheticDataset
from lbkeras.data.tfds import TFDSDataset

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOURCES = [FolderDataset, ImageNetDataset, MNIST1DDataset, SyntheticDataset, TFDSDataset]


def test_names():
    assert data.names() == ["folder", "imagenet", "mnist1d", "synthetic", "text", "tfds:<name>"]


def test_get_builds_each_source(tmp_path):
    synthetic = data.get("Synthetic", input_shape=(40,), num_classes=3, num_train=8, num_eval=4)
    assert isinstance(synthetic, SyntheticDataset) and synthetic.info.input_shape == (40,)
    mnist = data.get("mnist1d", data_dir=str(tmp_path))
    assert isinstance(mnist, MNIST1DDataset) and mnist.data_dir == str(tmp_path)
    assert mnist.info == data.DatasetInfo("mnist1d", 10, (40,), 16_000, 4_000)
    assert data.get("mnist1d").data_dir == "~/.cache/lbkeras"
    imagenet = data.get("imagenet", data_dir=str(tmp_path), image_size=128, augment="CutMix")
    assert isinstance(imagenet, ImageNetDataset) and imagenet.soft_labels
    assert imagenet.info == data.DatasetInfo("imagenet", 1000, (128, 128, 3), 1_281_167, 50_000)


def test_tfds_prefix_routes_to_the_tfds_source(tmp_path):
    with pytest.raises(ValueError, match="TFDS dataset 'mnist' is not prepared"):
        data.get("tfds:mnist", data_dir=str(tmp_path))
    for name in ("tfds:", "TFDS:<name>"):
        with pytest.raises(ValueError, match="name the TFDS dataset after 'tfds:'"):
            data.get(name)


def test_unknown_dataset_lists_choices(tmp_path):
    choices = "folder, imagenet, mnist1d, synthetic, text, tfds:<name>"
    with pytest.raises(
        ValueError, match=f"unknown dataset 'imagenet21k'; choose one of: {choices}"
    ):
        data.get("imagenet21k")
    with pytest.raises(ValueError, match=f"{tmp_path}/train does not exist"):
        data.get("folder", data_dir=str(tmp_path))


def test_unknown_option_lists_the_options():
    with pytest.raises(ValueError, match="SyntheticDataset: .*'shape'.*options are: data_dir, "):
        data.get("synthetic", shape=(3,))


def test_public_names_load_lazily():
    assert data.SyntheticDataset is SyntheticDataset and data.TFDSDataset is TFDSDataset
    assert data.load_mnist1d.__module__ == "lbkeras.data.mnist1d"
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        data.Nope  # noqa: B018
    assert sorted(data.__all__) == data.__all__


def test_every_source_follows_the_dataset_interface():
    contract = inspect.signature(base.Dataset.make)
    for source in SOURCES:
        assert issubclass(source, base.Dataset)
        assert inspect.signature(source.make) == contract, source
        assert "data_dir" in inspect.signature(source).parameters, source


def _top_level_imports(path):
    with open(os.path.join(ROOT, path)) as f:
        tree = ast.parse(f.read())
    for node in tree.body:  # `if TYPE_CHECKING:` blocks are not top-level statements
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield node.module


def test_importing_lbkeras_data_does_not_import_tensorflow():
    # GPU machines measure optimizers under JAX without TensorFlow: `import lbkeras` must work.
    for path in ("lbkeras/data/__init__.py", "lbkeras/data/base.py", "lbkeras/registry.py"):
        for module in _top_level_imports(path):
            assert not module.startswith(("tensorflow", "keras_cv")), (path, module)
            assert not module.startswith("lbkeras.data") or module == "lbkeras.data.base", module
