"""Every accepted audio container is recognised by its content and decoded to 16 kHz mono, and
the offline engine still hears the sentence in a compressed file."""

import io

import av
import pytest

from media_tools.engines.audio_decode import decode_to_pcm16k
from media_tools.sniff import sniff
from tests.media_tools.helpers import SENTENCE_WORDS, wait_for_job

# container format, codec, the type sniffing must find
FORMATS = [
    ("mp3", "libmp3lame", "mp3"),
    ("ipod", "aac", "m4a"),
    ("ogg", "libopus", "ogg"),
    ("webm", "libopus", "webm"),
    ("flac", "flac", "flac"),
    ("wav", "pcm_s16le", "wav"),
]


def encode(wav: bytes, container: str, codec: str) -> bytes:
    """The WAV re-encoded with PyAV into another container."""
    out = io.BytesIO()
    with av.open(io.BytesIO(wav)) as source, av.open(out, "w", format=container) as target:
        rate = 48000 if codec == "libopus" else 22050
        stream = target.add_stream(codec, rate=rate, layout="mono")
        resampler = av.AudioResampler(format=stream.codec_context.format, layout="mono", rate=rate)
        for frame in source.decode(audio=0):
            for piece in resampler.resample(frame):
                target.mux(stream.encode(piece))
        for piece in resampler.resample(None):
            target.mux(stream.encode(piece))
        target.mux(stream.encode(None))
    return out.getvalue()


@pytest.mark.parametrize(("container", "codec", "expected"), FORMATS)
def test_each_container_is_sniffed_and_decoded(spoken_wav, container, codec, expected):
    data = encode(spoken_wav, container, codec)

    assert sniff(io.BytesIO(data)).name == expected
    decoded = decode_to_pcm16k(data, max_seconds=60)
    assert 4.9 < decoded.duration < 5.5
    assert len(decoded.pcm) == round(decoded.duration * 16000) * 2


def test_a_compressed_upload_is_transcribed(http, spoken_wav):
    ogg = encode(spoken_wav, "ogg", "libopus")

    response = http.post("/v1/media/transcriptions", files={"file": ("memo", ogg)})

    job = wait_for_job(http, response.json()["id"])
    assert job["input"]["type"] == "ogg"
    text = http.get(f"/v1/media/jobs/{job['id']}/result").json()["text"]
    assert len(set(text.split()) & SENTENCE_WORDS) >= 5, text
