"""Mono 16-bit PCM to the audio formats OpenAI's speech endpoint answers in (wav, pcm, mp3,
opus, aac, flac), through PyAV (its wheel carries ffmpeg's encoders, LAME and libopus among
them: no system package needed). CPU-bound: the async callers run it in `in_audio_threads`, a
small pool of its own, so long encodes never hold up the threads the database calls use."""

from __future__ import annotations

import asyncio
import functools
import io
import wave
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import av


_AUDIO_THREADS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="chuk-audio")


async def in_audio_threads(fn, /, *args, **kwargs):
    """`fn(*args, **kwargs)` in the audio pool, off the event loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_AUDIO_THREADS, functools.partial(fn, *args, **kwargs))


# OpenAI's `pcm` is raw 24 kHz signed 16-bit little-endian mono, with no header to say so.
PCM_RATE = 24_000


@dataclass(frozen=True, slots=True)
class AudioFormat:
    name: str
    content_type: str
    container: str = ""
    codec: str = ""
    rate: int | None = None  # the encoder's rate, where it cannot take the source's


FORMATS = {
    "wav": AudioFormat("wav", "audio/wav"),
    "pcm": AudioFormat("pcm", "audio/pcm", rate=PCM_RATE),
    "mp3": AudioFormat("mp3", "audio/mpeg", container="mp3", codec="libmp3lame"),
    "opus": AudioFormat("opus", "audio/ogg", container="ogg", codec="libopus", rate=48_000),
    "aac": AudioFormat("aac", "audio/aac", container="adts", codec="aac"),
    "flac": AudioFormat("flac", "audio/flac", container="flac", codec="flac"),
}


def _frame(pcm: bytes, rate: int) -> av.AudioFrame:
    import av  # here: PyAV costs every worker ~10 MB, and only speech encodes
    import numpy as np

    samples = np.frombuffer(pcm, dtype="<i2").reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
    frame.sample_rate = rate
    return frame


def resample(pcm: bytes, *, rate: int, to_rate: int) -> bytes:
    import av

    if rate == to_rate:
        return pcm
    resampler = av.AudioResampler(format="s16", layout="mono", rate=to_rate)
    out = bytearray()
    for frame in [*resampler.resample(_frame(pcm, rate)), *resampler.resample(None)]:
        out.extend(frame.to_ndarray().tobytes())
    return bytes(out)


def change_tempo(pcm: bytes, *, rate: int, factor: float) -> bytes:
    """The same speech `factor` times as fast (below 1, slower), at the same pitch: ffmpeg's
    atempo filter, which takes 0.5 to 100."""
    import av

    graph = av.filter.Graph()
    source = graph.add_abuffer(format="s16", sample_rate=rate, layout="mono", time_base=f"1/{rate}")
    tempo = graph.add("atempo", f"{factor:.6f}")
    sink = graph.add("abuffersink")
    source.link_to(tempo)
    tempo.link_to(sink)
    graph.configure()
    frame = _frame(pcm, rate)
    frame.time_base = Fraction(1, rate)
    frame.pts = 0
    graph.push(frame)
    graph.push(None)
    out = bytearray()
    while True:
        try:
            out.extend(graph.pull().to_ndarray().tobytes())
        except (av.BlockingIOError, av.EOFError):
            break
    return bytes(out)


def wav_bytes(pcm: bytes, *, rate: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(pcm)
    return out.getvalue()


def encode(pcm: bytes, *, rate: int, fmt: str) -> bytes:
    """`pcm` (mono s16le at `rate`) as a file of format `fmt` (a key of FORMATS)."""
    import av

    spec = FORMATS[fmt]
    if fmt == "wav":
        return wav_bytes(pcm, rate=rate)
    if fmt == "pcm":
        return resample(pcm, rate=rate, to_rate=PCM_RATE)
    out_rate = spec.rate or rate
    pcm = resample(pcm, rate=rate, to_rate=out_rate)
    out = io.BytesIO()
    with av.open(out, mode="w", format=spec.container) as container:
        stream = container.add_stream(spec.codec, rate=out_rate, layout="mono")
        encoder_format = stream.codec_context.codec.audio_formats[0].name
        resampler = av.AudioResampler(format=encoder_format, layout="mono", rate=out_rate)
        frames = [*resampler.resample(_frame(pcm, out_rate)), *resampler.resample(None)]
        size = stream.codec_context.frame_size or 1024
        # Encoders with a fixed frame size (MP3, AAC, Opus) take frames of exactly that size.
        fifo = av.AudioFifo()
        for frame in frames:
            frame.pts = None
            fifo.write(frame)
        while fifo.samples:
            chunk = fifo.read(min(size, fifo.samples), partial=True)
            for packet in stream.encode(chunk):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()
