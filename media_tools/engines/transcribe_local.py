"""Offline English speech recognition with PocketSphinx 5 and the en-us model inside its wheel.

Accuracy is modest (it is the offline default; a provider is the quality path). Two details
matter for it: dither (digital silence, exact zeros, throws off the feature normalisation) and
decoding whole utterances at once rather than as a live stream. Long audio is cut into windows
of at most WINDOW_SECONDS at its quietest points, so progress can be reported per window."""

from __future__ import annotations

import re
from collections.abc import Callable

from aiapi.providers.base import TranscriptionResult, TranscriptSegment, TranscriptWord
from media_tools.engines.audio_decode import BYTES_PER_SECOND

WINDOW_SECONDS = 30
CUT_SEARCH_SECONDS = 5  # a window ends at the quietest 100 ms of its last seconds
FRAMES_PER_SECOND = 100  # PocketSphinx's frame rate
SEGMENT_PAUSE_SECONDS = 0.5  # a pause this long starts a new subtitle segment
SEGMENT_MAX_WORDS = 14
_FILLER = re.compile(r"^(<s>|</s>|<sil>|\[.*\]|\+\+.*\+\+)$")
_ALTERNATE = re.compile(r"\(\d+\)$")  # "the(2)": the second pronunciation of "the"


def _windows(pcm: bytes) -> list[tuple[int, int]]:
    """Byte ranges covering `pcm`, each at most WINDOW_SECONDS long, cut in quiet places."""
    import numpy as np

    window = WINDOW_SECONDS * BYTES_PER_SECOND
    step = BYTES_PER_SECOND // 10 // 2 * 2  # 100 ms, whole samples
    ranges, start = [], 0
    while len(pcm) - start > window:
        search_from = start + window - CUT_SEARCH_SECONDS * BYTES_PER_SECOND
        samples = np.frombuffer(pcm[search_from : start + window], dtype="<i2").astype(np.int64)
        chunk = step // 2
        energies = [
            int(np.abs(samples[i : i + chunk]).sum()) for i in range(0, len(samples), chunk)
        ]
        quietest = min(range(len(energies)), key=energies.__getitem__)
        end = search_from + quietest * step
        ranges.append((start, end))
        start = end
    ranges.append((start, len(pcm)))
    return ranges


def _words(decoder, offset: float) -> list[TranscriptWord]:
    words = []
    for segment in decoder.seg():
        if _FILLER.match(segment.word):
            continue
        words.append(
            TranscriptWord(
                word=_ALTERNATE.sub("", segment.word),
                start=round(offset + segment.start_frame / FRAMES_PER_SECOND, 2),
                end=round(offset + (segment.end_frame + 1) / FRAMES_PER_SECOND, 2),
            )
        )
    return words


def _segments(words: list[TranscriptWord]) -> list[TranscriptSegment]:
    segments: list[TranscriptSegment] = []
    current: list[TranscriptWord] = []
    for word in words:
        if current and (
            word.start - current[-1].end >= SEGMENT_PAUSE_SECONDS
            or len(current) >= SEGMENT_MAX_WORDS
        ):
            segments.append(_segment_of(current))
            current = []
        current.append(word)
    if current:
        segments.append(_segment_of(current))
    return segments


def _segment_of(words: list[TranscriptWord]) -> TranscriptSegment:
    return TranscriptSegment(
        start=words[0].start, end=words[-1].end, text=" ".join(w.word for w in words)
    )


def transcribe_pcm16k(
    pcm: bytes, *, progress: Callable[[float], None] | None = None
) -> TranscriptionResult:
    from pocketsphinx import Decoder

    decoder = Decoder(samprate=16000, dither=True, seed=1, loglevel="FATAL")
    words: list[TranscriptWord] = []
    ranges = _windows(pcm)
    for index, (start, end) in enumerate(ranges):
        decoder.start_utt()
        decoder.process_raw(pcm[start:end], no_search=False, full_utt=True)
        decoder.end_utt()
        words.extend(_words(decoder, start / BYTES_PER_SECOND))
        if progress is not None:
            progress((index + 1) / len(ranges))
    return TranscriptionResult(
        text=" ".join(w.word for w in words),
        language="english",
        segments=_segments(words),
        words=words,
    )
