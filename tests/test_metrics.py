import numpy as np
import pytest
from skimage.metrics import structural_similarity

from huenet import metrics


def _pair():
    truth = np.zeros((2, 2, 2, 3), np.uint8)
    prediction = truth.copy()
    prediction[0, 0, 0] = [1, 0, 0]  # one value off by 1
    prediction[1, 1, 1] = [10, 20, 0]  # two values off by 10 and 20
    return prediction, truth


def test_exact_and_within_by_hand():
    prediction, truth = _pair()
    assert metrics.exact_match(prediction, truth) == pytest.approx(21 / 24)
    assert metrics.within(prediction, truth, 5) == pytest.approx(22 / 24)
    assert metrics.within(prediction, truth, 13) == pytest.approx(23 / 24)


def test_psnr_by_hand():
    prediction, truth = _pair()
    mse_first = 1 / 12
    mse_second = (100 + 400) / 12
    expected_mean = np.mean([10 * np.log10(255**2 / mse_first), 10 * np.log10(255**2 / mse_second)])
    assert metrics.psnr_per_image(prediction, truth) == pytest.approx(expected_mean)
    pooled = 10 * np.log10(255**2 / ((mse_first + mse_second) / 2))
    assert metrics.psnr_pooled(prediction, truth) == pytest.approx(pooled)


def test_ssim_matches_scikit_image(rng):
    truth = rng.integers(0, 256, (3, 20, 24, 3), dtype=np.uint8)
    noise = rng.integers(-30, 30, truth.shape)
    prediction = np.clip(truth.astype(int) + noise, 0, 255).astype(np.uint8)
    expected = np.mean(
        [structural_similarity(p, t, channel_axis=-1, data_range=255) for p, t in zip(prediction, truth)]
    )
    assert metrics.ssim(prediction, truth) == pytest.approx(expected, abs=1e-6)
    assert metrics.ssim(truth, truth) == pytest.approx(1.0)


def test_auc_by_hand():
    truth = np.full((1, 1, 2, 3), 128, np.uint8)
    prediction = truth.copy()
    prediction[0, 0, 1] = [200, 128, 128]  # a reddish pixel: ab error e
    error = metrics.ab_errors(prediction, truth)[1]
    expected = np.mean([(1 + (error <= t)) / 2 for t in range(151)])
    assert metrics.auc(prediction, truth) == pytest.approx(expected)
    assert metrics.auc(truth, truth) == 1.0


def test_colorfulness_by_hand():
    image = np.zeros((1, 1, 2, 3), np.uint8)
    image[0, 0, 0] = [100, 0, 0]  # rg = 100, yb = 50
    # rg = [100, 0], yb = [50, 0]: std 50 and 25, means 50 and 25
    expected = np.sqrt(50**2 + 25**2) + 0.3 * np.sqrt(50**2 + 25**2)
    assert metrics.colorfulness(image) == pytest.approx(expected)
    assert metrics.colorfulness(np.full((1, 4, 4, 3), 77, np.uint8)) == 0.0


def test_signed_colorfulness_differs_from_absolute():
    image = np.array([[[[0, 100, 0], [100, 0, 0]]]], np.uint8)  # rg = -100, +100: mean 0
    rg_spread = 100.0
    yb = np.array([50.0, 50.0])
    assert metrics.colorfulness(image) == pytest.approx(
        np.sqrt(rg_spread**2 + yb.std() ** 2) + 0.3 * np.sqrt(0 + 50**2)
    )


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differs"):
        metrics.exact_match(np.zeros((1, 2, 2, 3)), np.zeros((1, 2, 3, 3)))


def test_photos_of_several_sizes_score_as_if_scored_together():
    rng = np.random.default_rng(5)
    truths = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in [(8, 12, 3), (8, 12, 3), (12, 8, 3), (5, 9, 3)]]
    predictions = [np.clip(t.astype(int) + rng.integers(-20, 21, t.shape), 0, 255).astype(np.uint8) for t in truths]
    mixed = metrics.all_metrics(predictions, truths)
    same = [0, 1]  # one size: the list path must agree with the array path exactly
    as_list = metrics.all_metrics([predictions[i] for i in same], [truths[i] for i in same])
    as_array = metrics.all_metrics(np.stack([predictions[i] for i in same]), np.stack([truths[i] for i in same]))
    for key in as_array:
        assert as_list[key] == pytest.approx(as_array[key], rel=1e-12), key
    errors = np.concatenate([metrics.ab_errors(p[None], t[None]) for p, t in zip(predictions, truths)])
    pooled_auc = np.mean([np.mean(errors <= t) for t in metrics.AUC_THRESHOLDS])
    assert mixed["auc"] == pytest.approx(pooled_auc, rel=1e-9)  # pixel-weighted, like one pool of pixels
    per_image = [metrics.psnr_per_image(p[None], t[None]) for p, t in zip(predictions, truths)]
    assert mixed["psnr_mean"] == pytest.approx(np.mean(per_image))
    squared = np.concatenate([((p.astype(float) - t) ** 2).ravel() for p, t in zip(predictions, truths)])
    assert mixed["psnr_pooled"] == pytest.approx(10 * np.log10(255**2 / squared.mean()))
    with pytest.raises(ValueError, match="image 1"):
        metrics.all_metrics([predictions[0], predictions[2]], [truths[0], truths[1]])


def test_a_truth_scored_against_many_predictions_gives_what_the_array_gives(rng):
    """metrics.Truth keeps a truth's Lab and SSIM sums between predictions (evaluate's rows,
    calibration's decodings); the numbers are those of the plain arrays."""
    truth = rng.integers(0, 256, (2, 9, 11, 3), dtype=np.uint8)
    reference = metrics.Truth(truth)
    for shift in (5, 40):
        prediction = np.clip(truth.astype(int) + rng.integers(-shift, shift + 1, truth.shape), 0, 255).astype(np.uint8)
        assert metrics.auc(prediction, reference) == metrics.auc(prediction, truth)
        assert metrics.ssim(prediction, reference) == metrics.ssim(prediction, truth)
        assert np.array_equal(metrics.ab_errors(prediction, reference), metrics.ab_errors(prediction, truth))
    rows = metrics.all_metrics_rows({"a": truth, "b": prediction}, truth)
    assert rows["a"]["auc"] == 1.0 and rows["b"] == metrics.all_metrics(prediction, truth)
    with pytest.raises(ValueError, match="differs"):
        metrics.auc(prediction[:, :5], reference)
