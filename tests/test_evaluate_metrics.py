"""`evaluate`'s reported metrics: Wilson interval, top-5, precision/recall/F1, ECE and the reliability diagram."""

import json

import pytest
import torch
from helpers import save_tutorial_model

from cifarctl.data.catalog import CIFAR100_CLASSES, SHORT_NAMES, Classes
from cifarctl.inference.calibration import reliability
from cifarctl.inference.evaluation import (
    EvalResult,
    class_scores,
    most_confused_pairs,
    superclass_accuracy,
    superclass_scores,
    wilson_interval,
)


def test_wilson_interval_matches_a_hand_computation():
    # 8 of 10, z = 1.96: centre (0.8 + 1.96²/20) / (1 + 1.96²/10),
    # half-width 1.96 sqrt(0.016 + 1.96²/400) / (1 + 1.96²/10)
    z = 1.959963984540054
    denominator = 1 + z * z / 10
    centre = (0.8 + z * z / 20) / denominator
    half = z * (0.8 * 0.2 / 10 + z * z / 400) ** 0.5 / denominator
    assert wilson_interval(8, 10) == (pytest.approx(centre - half), pytest.approx(centre + half))
    assert wilson_interval(8, 10) == (pytest.approx(0.4902, abs=1e-4), pytest.approx(0.9433, abs=1e-4))
    low, high = wilson_interval(100, 100)
    assert high == 1.0 and low == pytest.approx(0.963, abs=1e-3)  # never past 100 %


def test_precision_recall_f1_match_a_hand_computation():
    confusion = torch.tensor([[3, 1], [2, 4]])  # rows: true class, columns: predicted
    scores = class_scores(confusion, SHORT_NAMES)
    plane, car = scores["plane"], scores["car"]
    assert (plane["precision"], plane["recall"]) == (pytest.approx(3 / 5), pytest.approx(3 / 4))
    assert plane["f1"] == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    assert (car["precision"], car["recall"], car["f1"]) == (pytest.approx(4 / 5), pytest.approx(4 / 6),
                                                            pytest.approx(2 * 0.8 * (2 / 3) / (0.8 + 2 / 3)))


# Hand-made: four classes in two superclasses, X = {a, b} and Y = {c, d}; rows are the truth.
TWO_GROUPS = Classes(("a", "b", "c", "d"), superclasses=("X", "Y"), superclass_of=(0, 0, 1, 1))
GROUPED = torch.tensor([[5, 3, 1, 1],   # a: 10 images, 5 right, 8 in X
                        [3, 3, 0, 0],   # b: 6 images, 3 right, 6 in X
                        [0, 1, 6, 3],   # c: 10 images, 6 right, 9 in Y
                        [4, 0, 0, 4]])  # d: 8 images, 4 right, 4 in Y


def test_superclass_accuracy_matches_a_hand_computation():
    # (8 + 6 + 9 + 4) of 34 images were put in their own superclass
    assert superclass_accuracy(GROUPED, TWO_GROUPS) == pytest.approx(27 / 34)
    scores = superclass_scores(GROUPED, TWO_GROUPS)
    assert scores["X"] == {"accuracy": pytest.approx(14 / 16), "fine_accuracy": pytest.approx(8 / 16), "images": 16}
    assert scores["Y"] == {"accuracy": pytest.approx(13 / 18), "fine_accuracy": pytest.approx(10 / 18), "images": 18}
    result = EvalResult("test", GROUPED, [], [], classes=TWO_GROUPS)
    assert result.superclass_baseline == pytest.approx(0.5)  # two of four classes share each superclass
    assert result.as_json()["superclass_accuracy"] == round(27 / 34, 6)
    assert superclass_accuracy(GROUPED, Classes(("a", "b", "c", "d"))) is None  # no superclasses: nothing to say


def test_most_confused_pairs_match_a_hand_computation():
    pairs = most_confused_pairs(GROUPED, TWO_GROUPS.names, count=6)
    # 4 d->a first; three cells of 3: b->a (half of b) before a->b and c->d (0.3 each, in label order);
    # then the cells of 1, in label order; the diagonal never
    assert [(pair["true"], pair["predicted"], pair["count"]) for pair in pairs] == [
        ("d", "a", 4), ("b", "a", 3), ("a", "b", 3), ("c", "d", 3), ("a", "c", 1), ("a", "d", 1)]
    assert [pair["share"] for pair in pairs] == pytest.approx([4 / 8, 3 / 6, 3 / 10, 3 / 10, 1 / 10, 1 / 10])
    assert len(most_confused_pairs(GROUPED, TWO_GROUPS.names)) == 7  # only the cells that hold an image
    assert most_confused_pairs(torch.diag(torch.tensor([3, 4])), ("a", "b")) == []  # a perfect model


def test_cifar100_superclass_accuracy_of_a_model_that_keeps_to_the_superclass():
    """Every image taken for the next class of its superclass: no fine class right, every superclass right."""
    confusion = torch.zeros(100, 100, dtype=torch.int64)
    for label, group in enumerate(CIFAR100_CLASSES.superclass_of):
        members = [index for index, other in enumerate(CIFAR100_CLASSES.superclass_of) if other == group]
        confusion[label, members[(members.index(label) + 1) % len(members)]] = 2
    result = EvalResult("test", confusion, [], [], classes=CIFAR100_CLASSES)
    assert result.accuracy == 0 and result.superclass_accuracy == 1
    assert result.superclass_baseline == pytest.approx(0.05)
    assert all(score == {"accuracy": 1.0, "fine_accuracy": 0.0, "images": 10}
               for score in result.per_superclass().values())


# Hand-made: eight predictions, their confidence and whether they were right.
CONFIDENCE = torch.tensor([0.95, 0.95, 0.95, 0.95, 0.50, 0.50, 0.25, 0.10], dtype=torch.float64)
CORRECT = torch.tensor([1, 1, 1, 0, 1, 0, 1, 0])
# 15 bins of width 1/15: 0.95 -> bin 14 (14/15 = 0.933 < 0.95), 0.5 -> bin 7 (0.467, 0.533],
# 0.25 -> bin 3 (0.2, 0.267], 0.1 -> bin 1 (0.067, 0.133].
# ECE = 4/8 |0.75 - 0.95| + 2/8 |0.5 - 0.5| + 1/8 |1 - 0.25| + 1/8 |0 - 0.1| = 0.1 + 0 + 0.09375 + 0.0125
HAND_ECE = 0.20625


def test_ece_matches_a_hand_computation():
    bins = reliability(CONFIDENCE, CORRECT)
    assert len(bins.counts) == 15 and bins.edges[0] == 0 and bins.edges[-1] == 1
    assert [index for index, count in enumerate(bins.counts) if count] == [1, 3, 7, 14]
    assert (bins.counts[14], bins.accuracy[14], bins.confidence[14]) == (4, 0.75, pytest.approx(0.95))
    assert bins.expected_calibration_error == pytest.approx(HAND_ECE)
    assert bins.as_json()["ece"] == round(HAND_ECE, 6)


def test_ece_from_hand_made_probabilities():
    """Four images, three classes shown (the rest 0): the top probability is the confidence."""
    probabilities = torch.tensor([[0.95, 0.05, 0.0], [0.1, 0.9, 0.0], [0.5, 0.3, 0.2], [0.4, 0.35, 0.25]],
                                 dtype=torch.float64)
    labels = torch.tensor([0, 0, 0, 1])  # right, wrong, right, wrong
    confidence, predicted = probabilities.max(dim=1)
    bins = reliability(confidence, predicted == labels)
    # bins: 0.95 -> 14 (right), 0.9 -> 13 (wrong: 0.9 is in (0.867, 0.933]), 0.5 -> 7 (right), 0.4 -> 5 (wrong)
    # ECE = 1/4 (|1 - 0.95| + |0 - 0.9| + |1 - 0.5| + |0 - 0.4|) = 1/4 (0.05 + 0.9 + 0.5 + 0.4)
    assert [index for index, count in enumerate(bins.counts) if count] == [5, 7, 13, 14]
    assert bins.expected_calibration_error == pytest.approx(1.85 / 4)


def test_a_confidence_on_a_bin_edge_goes_in_the_lower_bin():
    edge = torch.tensor([0.2], dtype=torch.float32)  # 3/15 exactly in float32
    assert reliability(edge, torch.tensor([1])).counts[2] == 1
    assert reliability(torch.tensor([0.0]), torch.tensor([1])).counts[0] == 1


def test_reliability_diagram_draws_the_hand_computed_bins(tmp_path):
    from cifarctl.pictures.evaluation_plots import plot_reliability, reliability_figure

    bins = reliability(CONFIDENCE, CORRECT)
    figure = reliability_figure(bins, "hand-made")
    top, bottom = figure.axes
    bars = {}
    for container in top.containers:
        bars[container.get_label()] = [(round(bar.get_x(), 6), bar.get_y(), bar.get_height()) for bar in container]
    accuracy = bars["accuracy in the bin"]
    assert [x for x, _, _ in accuracy] == [round(index / 15, 6) for index in (1, 3, 7, 14)]
    assert [height for _, _, height in accuracy] == pytest.approx([0.0, 1.0, 0.5, 0.75])
    gaps = bars["gap to the mean confidence"]
    assert [height for _, _, height in gaps] == pytest.approx([0.1, 0.75, 0.0, 0.2])  # |accuracy - confidence|
    assert [bar.get_height() for bar in bottom.patches] == [0, 1, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 4]
    plot_reliability(bins, tmp_path / "r.png", "hand-made")
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_reports_the_new_metrics(cli, data_dir, tmp_path):
    model = save_tutorial_model(tmp_path)
    document = json.loads(cli("evaluate", "-m", str(model), "--json").stdout)
    assert document["accuracy_ci95"]["method"] == "wilson"
    assert document["accuracy_ci95"]["low"] <= document["accuracy"] <= document["accuracy_ci95"]["high"]
    assert document["accuracy"] <= document["top5_accuracy"] <= 1
    assert set(document["per_class_scores"]["cat"]) == {"precision", "recall", "f1"}
    assert document["per_class_scores"]["cat"]["recall"] == document["per_class"]["cat"]
    assert document["calibration"]["bins"] == 15 and sum(document["calibration"]["counts"]) == 100
    result = cli("evaluate", "-m", str(model), "--save-reliability", "reliability.png")
    assert result.exit_code == 0, result.stderr
    assert "95 % interval (Wilson)" in result.stdout and "precision" in result.stdout
    assert "expected calibration error" in result.stdout and "15 equal-width confidence bins" in result.stdout
    assert "top-5" not in result.stdout  # ten classes: five guesses is half of them
    assert (tmp_path / "reliability.png").is_file() and "saved the reliability picture" in result.stderr


def test_several_models_report_mean_and_spread(cli, data_dir, tmp_path):
    assert cli("train", "--seeds", "0-1", "--epochs", "1", "--batch-size", "32", "-o", "s.pth").exit_code == 0
    result = cli("evaluate", "s.seed0.pth", "s.seed1.pth")
    assert result.exit_code == 0, result.stderr
    assert "2 models" in result.stdout and "mean ± std of 2 models" in result.stdout
    document = json.loads(cli("evaluate", "-m", "s.seed0.pth", "-m", "s.seed1.pth", "--json").stdout)
    accuracies = [model["accuracy"] for model in document["models"]]
    assert document["accuracy"]["mean"] == pytest.approx(sum(accuracies) / 2, abs=1e-6)
    assert document["accuracy"]["n"] == 2 and document["pooled"] is True and document["not_pooled"] is None
    refused = cli("evaluate", "s.seed0.pth", "s.seed1.pth", "--save-reliability", "r.png")
    assert refused.exit_code == 2 and "draws one model" in refused.stderr


def test_a_class_with_no_images_has_no_recall_and_stays_out_of_the_macro_f1():
    from cifarctl.data.catalog import Classes
    from cifarctl.inference.evaluation import EvalResult

    confusion = torch.tensor([[3, 1, 0], [0, 0, 0], [0, 1, 2]])  # class b: no images, but predicted twice
    result = EvalResult("test", confusion, [], [], classes=Classes(("a", "b", "c")))
    assert result.per_class() == {"a": 0.75, "b": None, "c": 2 / 3}
    assert result.scores()["b"] == {"precision": 0.0, "recall": None, "f1": None}
    f1_a, f1_c = 2 * 1 * 0.75 / 1.75, 2 * 1 * (2 / 3) / (5 / 3)
    assert result.macro_f1() == pytest.approx((f1_a + f1_c) / 2)
