"""Offline text to speech with eSpeak NG (the Debian package `espeak-ng`), run as a child
process through asyncio, so the event loop never waits on it. OpenAI's voice names map onto
eSpeak voices (a language and a variant); speed onto its rate in words per minute, slowed
further with ffmpeg's atempo where eSpeak's slowest rate is not slow enough."""

from __future__ import annotations

import asyncio
import shutil
import struct

from aiapi.providers.base import ProviderFailure

ESPEAK = "espeak-ng"
RATE = 22_050  # what eSpeak NG writes
DEFAULT_WPM = 175  # eSpeak's own default: OpenAI's speed 1.0
MIN_WPM, MAX_WPM = 80, 1000  # eSpeak's slowest rate; fast enough for speed 4.0 (700)
TIMEOUT_SECONDS = 60

# OpenAI voice -> (eSpeak voice and variant, pitch 0-99).
VOICES = {
    "alloy": ("en-us+f2", 50),
    "ash": ("en-us+m2", 45),
    "ballad": ("en-gb+m4", 50),
    "coral": ("en-us+f3", 55),
    "echo": ("en-us+m3", 45),
    "fable": ("en-gb+m1", 50),
    "onyx": ("en-us+m7", 30),
    "nova": ("en-us+f4", 60),
    "sage": ("en-gb+f1", 50),
    "shimmer": ("en-us+f5", 65),
    "verse": ("en-us+m5", 50),
    "marin": ("en-us+f1", 55),
    "cedar": ("en-us+m6", 40),
}


def espeak_available() -> bool:
    return shutil.which(ESPEAK) is not None


def _pcm_of_wav(data: bytes) -> bytes:
    """The samples of the WAV eSpeak wrote to stdout (whose header gives no real sizes, as it
    is written before the speech is known)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ProviderFailure("eSpeak NG wrote something that is not a WAV file.", retryable=False)
    offset = 12
    while offset + 8 <= len(data):
        chunk, size = (
            data[offset : offset + 4],
            struct.unpack("<I", data[offset + 4 : offset + 8])[0],
        )
        if chunk == b"data":
            pcm = data[offset + 8 :]
            return pcm[: len(pcm) // 2 * 2]
        offset += 8 + size
    raise ProviderFailure("eSpeak NG wrote a WAV file without samples.", retryable=False)


async def speak_pcm(text: str, *, voice: str, speed: float) -> bytes:
    """`text` spoken in `voice` (a key of VOICES) at `speed` (0.25 to 4.0), as mono s16le at
    RATE. The text goes in on stdin, never on the command line."""
    if not espeak_available():
        raise ProviderFailure("eSpeak NG is not installed on this server.", retryable=True)
    espeak_voice, pitch = VOICES[voice]
    wpm = round(DEFAULT_WPM * speed)
    process = await asyncio.create_subprocess_exec(
        ESPEAK,
        "-v",
        espeak_voice,
        "-p",
        str(pitch),
        "-s",
        str(max(MIN_WPM, min(wpm, MAX_WPM))),
        "-b",
        "1",  # the input is UTF-8
        "--stdin",
        "--stdout",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            out, err = await process.communicate(text.encode())
    except BaseException:
        # Timed out, or the caller went away: the child goes too.
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise
    if process.returncode != 0:
        detail = err.decode(errors="replace").strip()[:200]
        raise ProviderFailure(f"eSpeak NG failed: {detail or process.returncode}", retryable=False)
    pcm = _pcm_of_wav(out)
    if wpm < MIN_WPM:
        from media_tools.engines.audio_encode import change_tempo, in_audio_threads

        pcm = await in_audio_threads(change_tempo, pcm, rate=RATE, factor=wpm / MIN_WPM)
    return pcm
