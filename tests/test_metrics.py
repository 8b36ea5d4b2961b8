import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from deepclust import DeepclustError, ari, cluster_accuracy, evaluate, nmi, purity
from deepclust.metrics import cluster_mapping, frechet_distance


def test_permuted_labels_are_perfect():
    y = np.array([0, 0, 1, 1, 2, 2, 2])
    pred = np.array([2, 2, 0, 0, 1, 1, 1])
    assert cluster_accuracy(y, pred) == 1.0
    assert cluster_mapping(y, pred) == {2: 0, 0: 1, 1: 2}


def test_hand_checked_accuracy_below_purity():
    # cluster 1 mixes both classes; one-to-one matching can use only one of clusters 1 and 2
    y = [0, 0, 0, 1, 1, 1]
    pred = [0, 0, 1, 1, 2, 2]
    assert cluster_accuracy(y, pred) == pytest.approx(4 / 6)
    assert purity(y, pred) == pytest.approx(5 / 6)


def test_string_labels_and_unequal_counts():
    y = ["cat", "cat", "dog", "dog", "dog", "eel"]
    pred = [5, 5, 7, 7, 7, 7]  # two clusters, three classes
    assert cluster_accuracy(y, pred) == pytest.approx(5 / 6)
    more_clusters = [0, 1, 2, 3, 3, 4]  # five clusters, three classes
    assert cluster_accuracy(y, more_clusters) == pytest.approx(4 / 6)  # 0→cat, 3→dog, 4→eel
    assert purity(y, more_clusters) == 1.0


def test_nmi_ari_match_scikit_learn():
    rng = np.random.default_rng(0)
    y, pred = rng.integers(0, 4, 200), rng.integers(0, 5, 200)
    assert nmi(y, pred) == pytest.approx(normalized_mutual_info_score(y, pred))
    assert ari(y, pred) == pytest.approx(adjusted_rand_score(y, pred))


def test_evaluate_keys_and_counts():
    result = evaluate([0, 0, 1, 1], [1, 1, 0, 0])
    assert result == {"acc": 1.0, "nmi": 1.0, "ari": 1.0, "purity": 1.0,
                      "n_samples": 4, "n_clusters": 2, "n_classes": 2}


def test_length_mismatch_is_a_clear_error():
    with pytest.raises(DeepclustError, match="differ in length: 3 vs 2"):
        cluster_accuracy([0, 1, 1], [0, 1])


def test_frechet_distance_of_gaussians():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4000, 3))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    # same covariance, mean shifted by (2, 0, 0): distance = ‖shift‖² = 4
    assert frechet_distance(a, a + [2.0, 0.0, 0.0]) == pytest.approx(4.0, abs=1e-6)
    # N(0, I) vs N(0, 4I) in 3-d: Tr(I + 4I − 2·2I) = 3
    b = 2.0 * rng.standard_normal((4000, 3))
    assert frechet_distance(a, b) == pytest.approx(3.0, rel=0.1)


def test_frechet_distance_refuses_mismatched_features():
    with pytest.raises(DeepclustError, match=r"same d and n >= 2, got shapes \(5, 3\) and \(5, 2\)"):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 2)))


def test_the_docstring_examples_hold():
    import doctest

    import deepclust.metrics

    result = doctest.testmod(deepclust.metrics)
    assert result.attempted >= 6 and result.failed == 0
