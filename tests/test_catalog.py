"""The datasets cifarctl knows: CIFAR-10's and CIFAR-100's classes, sources and names."""

from __future__ import annotations

import pytest

from cifarctl.data.catalog import (
    CIFAR10_CLASSES,
    CIFAR100_CLASSES,
    DEFAULT_DATASET,
    Classes,
    dataset_spec,
    locate,
    official_source,
)
from cifarctl.errors import UsageError


def test_cifar100_has_100_classes_in_20_superclasses_of_five():
    assert len(CIFAR100_CLASSES) == 100 and len(set(CIFAR100_CLASSES.names)) == 100
    assert list(CIFAR100_CLASSES.names) == sorted(CIFAR100_CLASSES.names)  # the official order is alphabetical
    assert len(CIFAR100_CLASSES.superclasses) == 20
    assert all(CIFAR100_CLASSES.superclass_of.count(index) == 5 for index in range(20))


def test_cifar100_fine_to_coarse_matches_the_official_labels():
    # The first 20 entries of the official fine -> coarse mapping (as the coarse_labels in the files give it).
    assert CIFAR100_CLASSES.superclass_of[:20] == (4, 1, 14, 8, 0, 6, 7, 7, 18, 3, 3, 14, 9, 18, 7, 11, 3, 9, 7, 11)
    superclasses = (CIFAR100_CLASSES.superclasses[i] for i in CIFAR100_CLASSES.superclass_of)
    superclass = dict(zip(CIFAR100_CLASSES.names, superclasses))
    assert superclass["apple"] == "fruit_and_vegetables"
    assert superclass["maple_tree"] == "trees"
    assert superclass["worm"] == "non-insect_invertebrates"
    assert CIFAR100_CLASSES.names[-1] == "worm" and CIFAR100_CLASSES.superclasses[-1] == "vehicles_2"


def test_class_names_are_found_by_any_spelling_a_user_types():
    assert CIFAR10_CLASSES.index("Airplane") == CIFAR10_CLASSES.index("plane") == 0
    assert CIFAR100_CLASSES.index("aquarium fish") == CIFAR100_CLASSES.index("AQUARIUM_FISH") == 1
    with pytest.raises(ValueError, match="'cow' is not a CIFAR-10 class; use one of: plane, car"):
        CIFAR10_CLASSES.index("cow")
    with pytest.raises(ValueError, match=r"\.\.\. \(100 in all\)"):
        CIFAR100_CLASSES.index("unicorn")
    assert Classes(("a", "b", "c")).describe() == "3 classes: a, b, c"


def test_torchvision_sources_are_read_without_importing_torchvision():
    from torchvision.datasets import CIFAR10, CIFAR100

    for source, dataset_class in ((official_source("CIFAR10"), CIFAR10), (official_source("CIFAR100"), CIFAR100)):
        assert (source.url, source.filename, source.archive_md5) == (dataset_class.url, dataset_class.filename,
                                                                     dataset_class.tgz_md5)
        assert source.base_folder == dataset_class.base_folder
        assert source.file_md5s == dict(dataset_class.train_list + dataset_class.test_list) | {
            dataset_class.meta["filename"]: dataset_class.meta["md5"]}


def test_specs_name_their_folders_and_what_to_do_when_missing(tmp_path):
    assert DEFAULT_DATASET == "cifar10"
    assert locate(tmp_path).folder == tmp_path / "cifar-10-batches-py"
    hundred = locate(tmp_path, "cifar100")
    assert (hundred.folder, hundred.archive) == (tmp_path / "cifar-100-python", tmp_path / "cifar-100-python.tar.gz")
    assert hundred.spec.missing_hint() == "run 'cifarctl download --dataset cifar100' first"
    own = locate(tmp_path, "my-pets.v2")
    assert (own.folder, own.archive, own.spec.classes, own.spec.builtin) == (tmp_path / "my-pets.v2", None, None, False)
    assert "--from FOLDER" in own.spec.missing_hint()


@pytest.mark.parametrize("name", ["", "a b", "../x", ".hidden", "x" * 65, "cifar-100-python", "Cifar10", "cifar-10",
                                  "cifar-10-python.tar.gz"])
def test_unusable_dataset_names_are_refused(name):
    with pytest.raises(UsageError):
        dataset_spec(name)
