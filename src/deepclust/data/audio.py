"""Audio: a folder of recordings → one feature vector per file.

Files (WAV, FLAC, OGG) are decoded with soundfile, mixed down to mono, resampled and cut to
``max_seconds``; librosa computes a log-mel spectrogram. Two ways to pool it over time into one
vector (``pooling``):

- ``"summary"`` (the default): the log-mel bands and the MFCCs computed from them, summarised
  over time by their mean and standard deviation per band: ``2 * (n_mels + n_mfcc)`` numbers per
  file (168 by default). What a sound is made of (timbre, pitch, noise) and not the order of its
  parts: for sound types, instruments, environments.
- ``"segments"``: the loud part of the recording (frames within ``trim_db`` of its loudest)
  cut into ``n_segments`` equal slices in time, the mean log-mel spectrum of each slice, less the
  recording's own mean spectrum: ``n_mels * n_segments`` numbers (384 by default). The order of
  the sounds, with the speaker's voice and the microphone (a constant spectrum) taken out and a
  faster or slower delivery stretched to the same slices: for spoken words and commands.

Needs the ``[audio]`` extra (``pip install 'deepclust[audio]'``).
"""
from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import track

from deepclust.exceptions import DeepclustError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
#: how a recording's spectrogram becomes one vector (see the module docstring)
AUDIO_POOLINGS = ("summary", "segments")
#: modules whose warnings are the audio libraries' own (shown at ``progress >= 2`` only), such as
#: librosa's "n_fft=2048 is too large for input signal" for every short file
LIBRARY_MODULES = r"(librosa|audioread|soundfile|numba)(\.|$)"


def _require_audio_libraries():
    try:
        import librosa
        import soundfile
    except ImportError:
        raise DeepclustError(
            "reading audio needs librosa and soundfile: pip install 'deepclust[audio]'"
        ) from None
    return librosa, soundfile


@dataclass
class AudioFeatures:
    """One feature vector per audio file, from its log-mel spectrogram (see the module docstring).

    pooling: ``"summary"`` or ``"segments"``, how the spectrogram becomes one vector;
    sample_rate: Hz the audio is resampled to; max_seconds: only the start of longer files is
    used; n_mels: mel bands; n_mfcc: cepstral coefficients (``"summary"``); n_segments: slices in
    time and trim_db: how far below the loudest frame (dB) the loud part ends (``"segments"``);
    n_fft and hop_length: STFT window and step in samples.
    """

    pooling: str = "summary"
    sample_rate: int = 22050
    max_seconds: float = 30.0
    n_mels: int = 64
    n_mfcc: int = 20
    n_segments: int = 6
    trim_db: float = 40.0
    n_fft: int = 2048
    hop_length: int = 512
    kind = "audio"

    @property
    def width(self) -> int:
        """Numbers per file."""
        return 2 * (self.n_mels + self.n_mfcc) if self.pooling == "summary" else self.n_mels * self.n_segments

    @property
    def report_(self) -> list[str]:
        at = f"at {self.sample_rate} Hz, first {self.max_seconds:g} s"
        if self.pooling == "segments":
            return [f"audio: {self.n_mels} log-mel bands in {self.n_segments} slices of each file's loud part "
                    f"(within {self.trim_db:g} dB of its loudest frame), less the file's mean spectrum, {at}"]
        return [f"audio: mean and std of {self.n_mels} log-mel bands and {self.n_mfcc} MFCCs per file, {at}"]

    def features(self, files: list[Path], root: Path, shown: str, progress: int = 0
                 ) -> tuple[np.ndarray, list[str], list[tuple[str, str]]]:
        """(X float32 (n_read, width), relative names read, [(name, why skipped)]).
        ``progress``: 0 nothing; 1 deepclust's progress bar, librosa's warnings not shown; 2 the
        bar and librosa's warnings."""
        librosa, soundfile = _require_audio_libraries()
        with warnings.catch_warnings():
            if progress < 2:
                warnings.filterwarnings("ignore", module=LIBRARY_MODULES)
            return self._features(librosa, soundfile, files, root, shown, progress)

    def _features(self, librosa, soundfile, files: list[Path], root: Path, shown: str, progress: int
                  ) -> tuple[np.ndarray, list[str], list[tuple[str, str]]]:
        rows, names, skipped = [], [], []
        for f in _progress(files, f"reading {shown}", progress):
            rel = f.relative_to(root).as_posix()
            try:
                frames = int(self.max_seconds * soundfile.info(f).samplerate)
                wave, rate = soundfile.read(f, frames=frames, dtype="float32", always_2d=True)
            except Exception as exc:  # libsndfile reports every decoding failure as its own error
                if isinstance(exc, MemoryError):
                    raise
                skipped.append((rel, _first_line(exc)))
                continue
            if wave.shape[0] == 0:
                skipped.append((rel, "no audio samples"))
                continue
            mono = wave.mean(axis=1)
            if rate != self.sample_rate:
                mono = librosa.resample(mono, orig_sr=rate, target_sr=self.sample_rate)
            rows.append(self._summarise(librosa, mono))
            names.append(rel)
        X = np.vstack(rows).astype(np.float32) if rows else np.empty((0, self.width), np.float32)
        return X, names, skipped

    def _summarise(self, librosa, wave: np.ndarray) -> np.ndarray:
        mel = librosa.feature.melspectrogram(
            y=wave, sr=self.sample_rate, n_fft=self.n_fft, hop_length=self.hop_length, n_mels=self.n_mels
        )
        log_mel = librosa.power_to_db(mel, ref=1.0, top_db=None)
        if self.pooling == "segments":
            return self._segments(log_mel)
        mfcc = librosa.feature.mfcc(S=log_mel, n_mfcc=self.n_mfcc)
        return np.concatenate([log_mel.mean(1), log_mel.std(1), mfcc.mean(1), mfcc.std(1)])

    def _segments(self, log_mel: np.ndarray) -> np.ndarray:
        """``(n_mels * n_segments,)``: the mean spectrum of each slice of the loud part, less the
        part's mean; a part of fewer frames than slices repeats frames."""
        loudness = log_mel.max(axis=0)
        loud = np.flatnonzero(loudness >= loudness.max() - self.trim_db)
        part = log_mel[:, loud[0]:loud[-1] + 1]
        part = part - part.mean(axis=1, keepdims=True)
        frames = part.shape[1]
        edges = np.linspace(0, frames, self.n_segments + 1)
        starts = np.minimum(edges[:-1].astype(int), frames - 1)
        stops = np.maximum(edges[1:].astype(int), starts + 1)
        return np.concatenate([part[:, a:b].mean(axis=1) for a, b in zip(starts, stops)])

    _STATE = ("pooling", "sample_rate", "max_seconds", "n_mels", "n_mfcc", "n_segments", "trim_db", "n_fft",
              "hop_length")

    def get_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        return {k: getattr(self, k) for k in self._STATE}, {}

    @classmethod
    def from_state(cls, config: dict, arrays: dict[str, np.ndarray]) -> AudioFeatures:
        return cls(**{k: config[k] for k in cls._STATE if k in config})  # older files: the summary


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:120]


def _progress(items: list, description: str, show: bool):
    """``items``, with deepclust's progress bar on stderr while they are worked through."""
    if not show:
        yield from items
        return
    yield from track(items, description=description, transient=True, console=Console(file=sys.stderr))
