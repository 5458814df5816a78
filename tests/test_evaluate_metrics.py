"""`evaluate`'s reported metrics: Wilson interval, top-5, precision/recall/F1, ECE and the reliability diagram."""

import json

import pytest
import torch
from helpers import save_tutorial_model

from cifarctl.data.catalog import SHORT_NAMES
from cifarctl.inference.calibration import reliability
from cifarctl.inference.evaluation import class_scores, wilson_interval


def test_wilson_interval_matches_a_hand_computation():
    # 8 of 10, z = 1.96: centre (0.8 + 1.96²/20) / (1 + 1.96²/10), half-width 1.96 sqrt(0.016 + 1.96²/400) / (1 + 1.96²/10)
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
    save_tutorial_model(tmp_path)
    torch.manual_seed(1)
    from helpers import TutorialNet

    torch.save(TutorialNet().state_dict(), tmp_path / "other.pth")
    result = cli("evaluate", "cifar_net.pth", "other.pth")
    assert result.exit_code == 0, result.stderr
    assert "2 models" in result.stdout and "mean ± std of 2 models" in result.stdout
    document = json.loads(cli("evaluate", "-m", "cifar_net.pth", "-m", "other.pth", "--json").stdout)
    accuracies = [model["accuracy"] for model in document["models"]]
    assert document["accuracy"]["mean"] == pytest.approx(sum(accuracies) / 2, abs=1e-6)
    assert document["accuracy"]["n"] == 2
    refused = cli("evaluate", "cifar_net.pth", "other.pth", "--save-reliability", "r.png")
    assert refused.exit_code == 2 and "draws one model" in refused.stderr
