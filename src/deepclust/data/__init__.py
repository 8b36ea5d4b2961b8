"""Data layer: readers for user files (tables, arrays, image folders)."""

from deepclust.data.readers import LoadedData, read_data, read_image_folder, read_labels

__all__ = ["LoadedData", "read_data", "read_image_folder", "read_labels"]
