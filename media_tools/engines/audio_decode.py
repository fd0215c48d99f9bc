"""Any supported audio upload (WAV, MP3, M4A, OGG, WEBM, FLAC) to 16 kHz mono signed 16-bit PCM,
through PyAV (its wheel carries ffmpeg's decoders: no system package needed)."""

from __future__ import annotations

import io
from dataclasses import dataclass

import av

SAMPLE_RATE = 16_000
BYTES_PER_SECOND = SAMPLE_RATE * 2


class AudioDecodeError(Exception):
    """The file is not audio we can decode (corrupt, or no audio stream)."""


class AudioTooLong(Exception):
    def __init__(self, limit_seconds: int) -> None:
        super().__init__(f"longer than {limit_seconds} seconds")
        self.limit_seconds = limit_seconds


@dataclass(frozen=True, slots=True)
class DecodedAudio:
    pcm: bytes  # 16 kHz mono s16le
    duration: float  # seconds


def decode_to_pcm16k(data: bytes, *, max_seconds: int) -> DecodedAudio:
    """Decodes at most `max_seconds` (plus one frame): a longer file raises AudioTooLong
    without being decoded to the end, whatever its header claims."""
    limit_bytes = max_seconds * BYTES_PER_SECOND
    pcm = bytearray()
    try:
        with av.open(io.BytesIO(data), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioDecodeError("the file has no audio stream")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    pcm.extend(out.to_ndarray().tobytes())
                if len(pcm) > limit_bytes:
                    raise AudioTooLong(max_seconds)
            for out in resampler.resample(None):
                pcm.extend(out.to_ndarray().tobytes())
    except av.FFmpegError as error:
        raise AudioDecodeError(f"the audio could not be decoded ({error.strerror})") from error
    if len(pcm) > limit_bytes:
        raise AudioTooLong(max_seconds)
    if not pcm:
        raise AudioDecodeError("the file contains no audio samples")
    return DecodedAudio(pcm=bytes(pcm), duration=len(pcm) / BYTES_PER_SECOND)
