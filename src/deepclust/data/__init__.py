"""Data layer: readers for user files (tables, arrays, text, audio, image folders) and the
preprocessing (featurizers) that turns each into features and is saved with a model."""

from deepclust.data.featurize import (
    MODALITIES,
    Featurized,
    apply_featurizer,
    detect_modality,
    featurize,
)
from deepclust.data.readers import LoadedData, read_data, read_image_folder, read_labels
from deepclust.data.tables import TablePreprocessor
from deepclust.data.text import TextEmbedder, cluster_terms

__all__ = [
    "MODALITIES",
    "Featurized",
    "LoadedData",
    "TablePreprocessor",
    "TextEmbedder",
    "apply_featurizer",
    "cluster_terms",
    "detect_modality",
    "featurize",
    "read_data",
    "read_image_folder",
    "read_labels",
]
