"""Audio containers written progressively, for responses sent while the audio is made.

``wav`` is a header whose sizes say "unknown" (0xFFFFFFFF, which decoders read as "until
the end") followed by 16-bit PCM; ``raw`` is the PCM alone. Ogg Opus, MP3 and FLAC
come from one libsndfile encoder per response fed piece by piece: libsndfile writes
into a buffer it may seek in, and the bytes it has finished are sent. What it goes back
to rewrite at the end (FLAC's totals, MP3's Xing frame) is already sent: the streamed
file says "length unknown", which is what a stream is, and MP3's reserved Xing frame
(a header and zeros) is left out, since left empty it makes decoders stop early.
"""

from __future__ import annotations

import io
import struct

import numpy as np
import soundfile as sf

_LIBSNDFILE = {"ogg": ("OGG", "OPUS"), "mp3": ("MP3", "MPEG_LAYER_III"), "flac": ("FLAC", "PCM_16")}
MEDIA_TYPES = {"wav": "audio/wav", "raw": "audio/pcm", "ogg": "audio/ogg", "mp3": "audio/mpeg", "flac": "audio/flac"}
FORMATS = frozenset(MEDIA_TYPES)
_UNKNOWN = 0xFFFFFFFF


def wav_header(rate: int) -> bytes:
    """A 16-bit mono WAV header for a stream of unknown length."""
    fmt = struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)  # PCM, mono, 16 bits
    return b"RIFF" + struct.pack("<I", _UNKNOWN) + b"WAVEfmt " + fmt + b"data" + struct.pack("<I", _UNKNOWN)


class _Sink(io.RawIOBase):
    """A seekable file for libsndfile that hands over what it wrote past the last hand-over."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._position = 0
        self._taken = 0

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, data) -> int:
        data = bytes(data)
        end = self._position + len(data)
        if end > len(self._buffer):
            self._buffer.extend(bytes(end - len(self._buffer)))
        self._buffer[self._position : end] = data
        self._position = end
        return len(data)

    def readinto(self, target) -> int:
        chunk = self._buffer[self._position : self._position + len(target)]
        target[: len(chunk)] = chunk
        self._position += len(chunk)
        return len(chunk)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: len(self._buffer)}[whence]
        self._position = base + offset
        return self._position

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        data = bytes(self._buffer[self._taken :])
        self._taken = len(self._buffer)
        return data


def _without_empty_xing_frame(data: bytes) -> bytes:
    """The first MP3 frame, when it is the encoder's reserved Xing frame (a frame header and
    then zeros until the next frame), dropped."""
    if len(data) < 40 or data[0] != 0xFF or (data[1] & 0xE0) != 0xE0 or any(data[4:36]):
        return data
    following = data.find(b"\xff", 4)
    return data[following:] if following > 0 else data


class StreamEncoder:
    """One response's container: ``header()``, ``encode()`` per piece of 16-bit PCM, ``finish()``."""

    def __init__(self, media: str, rate: int):
        if media not in FORMATS:
            raise ValueError(f"no streaming encoder for {media!r}")
        self.media, self.rate = media, rate
        self._file: sf.SoundFile | None = None
        self._sink: _Sink | None = None
        self._first = True
        if media in _LIBSNDFILE:
            container, subtype = _LIBSNDFILE[media]
            self._sink = _Sink()
            self._file = sf.SoundFile(self._sink, mode="w", samplerate=rate, channels=1, format=container,
                                      subtype=subtype)  # fmt: skip

    def header(self) -> bytes:
        return wav_header(self.rate) if self.media == "wav" else b""

    def encode(self, pcm: bytes) -> bytes:
        if self._file is None:
            return pcm
        self._file.write(np.frombuffer(pcm, dtype="<i2"))
        return self._taken()

    def finish(self) -> bytes:
        if self._file is None:
            return b""
        self._file.close()
        return self._taken()

    def _taken(self) -> bytes:
        data = self._sink.take()
        if self._first and data:
            self._first = False
            if self.media == "mp3":
                data = _without_empty_xing_frame(data)
        return data
