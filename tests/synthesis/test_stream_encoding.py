"""Containers written progressively decode, with FFmpeg (PyAV), to all the audio fed in."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest
import soundfile as sf

from synthesis.stream_encoding import StreamEncoder

RATE = 24000


def _decoded_seconds(data: bytes) -> float:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        return sum(frame.samples for frame in container.decode(stream)) / stream.codec_context.sample_rate


@pytest.mark.parametrize("media", ["wav", "ogg", "mp3", "flac"])
def test_pieces_sent_as_they_come_decode_to_the_whole(media):
    tone = (np.sin(2 * np.pi * 220 * np.arange(RATE * 12) / RATE) * 8000).astype("<i2")
    encoder = StreamEncoder(media, RATE)
    sent = [encoder.header()]
    for piece in np.array_split(tone, 7):  # uneven pieces, as sentences are
        sent.append(encoder.encode(piece.tobytes()))
    sent.append(encoder.finish())
    assert sum(map(len, sent[:3])) > 0  # bytes leave before the end
    assert _decoded_seconds(b"".join(sent)) == pytest.approx(12.0, rel=0.01)


def test_a_wav_stream_says_its_length_is_unknown_and_reads_to_the_end():
    tone = np.arange(RATE, dtype="<i2")
    encoder = StreamEncoder("wav", RATE)
    data = encoder.header() + encoder.encode(tone.tobytes()) + encoder.finish()
    assert data[4:8] == b"\xff\xff\xff\xff"
    samples, rate = sf.read(io.BytesIO(data), dtype="int16")
    assert rate == RATE
    assert (samples == tone).all()


def test_raw_is_the_pcm_itself():
    encoder = StreamEncoder("raw", RATE)
    assert encoder.header() == b""
    assert encoder.encode(b"\x01\x00\x02\x00") == b"\x01\x00\x02\x00"
    with pytest.raises(ValueError, match="no streaming encoder"):
        StreamEncoder("aac", RATE)
