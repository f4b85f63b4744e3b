"""In-process eSpeak NG, loaded from the ``espeakng-loader`` wheel through ctypes.

eSpeak keeps its voice, parameters and output buffer in process-global state, so
every call that touches it goes through one lock: Dramatiq runs actors on several
threads of one process, and two interleaved syntheses would mix their samples.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass

import espeakng_loader
import numpy as np

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_ESPEAK_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_ESPEAK_RATE = 1
_ESPEAK_PITCH = 3
_ESPEAK_RANGE = 4

_EVENT_LIST_END = 0
_EVENT_WORD = 1


class _Event(ctypes.Structure):
    """speak_lib.h's ``espeak_EVENT``."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # characters from the start of the text, 1-based
        ("length", ctypes.c_int),  # of the word, in characters
        ("audio_position", ctypes.c_int),  # milliseconds
        ("sample", ctypes.c_int),  # samples from the start of the output
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass(frozen=True)
class Speech:
    samples: np.ndarray  # int16 mono at the library's rate
    words: list[tuple[int, int, int]]  # (first character, end character, first sample) of each word spoken


class EspeakError(RuntimeError):
    pass


class Espeak:
    """One process-wide eSpeak NG instance; use :func:`get` to obtain it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        data_path = espeakng_loader.get_data_path().encode()
        self._lib.espeak_Initialize.restype = ctypes.c_int
        self._lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self._lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self._lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        self._lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, 0)
        if rate <= 0:
            raise EspeakError("eSpeak NG failed to initialise")
        self.sample_rate: int = rate
        self._chunks: list[np.ndarray] = []
        self._words: list[tuple[int, int, int]] = []
        # Keep a reference: ctypes frees the trampoline if the Python object dies.
        self._callback = _SYNTH_CALLBACK(self._on_samples)
        self._lib.espeak_SetSynthCallback(self._callback)

    def _on_samples(self, wav, numsamples, events) -> int:
        if numsamples > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(numsamples,)).copy())
        index = 0
        while events and events[index].type != _EVENT_LIST_END:
            event = events[index]
            if event.type == _EVENT_WORD and event.length > 0:
                start = event.text_position - 1
                self._words.append((start, start + event.length, event.sample))
            index += 1
        return 0  # 0 = continue synthesis

    def synthesize(
        self, text: str, *, voice: str, rate_wpm: int = 175, pitch: int = 50, pitch_range: int = 50
    ) -> np.ndarray:
        """Speak ``text`` with the eSpeak voice ``voice``; returns int16 mono samples."""
        return self.speak(text, voice=voice, rate_wpm=rate_wpm, pitch=pitch, pitch_range=pitch_range).samples

    def speak(self, text: str, *, voice: str, rate_wpm: int = 175, pitch: int = 50, pitch_range: int = 50) -> Speech:
        """Speak ``text``; returns the samples and where each word starts (eSpeak's word events)."""
        encoded = text.encode("utf-8") + b"\0"
        with self._lock:
            if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise EspeakError(f"eSpeak NG has no voice {voice!r}")
            self._lib.espeak_SetParameter(_ESPEAK_RATE, int(rate_wpm), 0)
            self._lib.espeak_SetParameter(_ESPEAK_PITCH, int(pitch), 0)
            self._lib.espeak_SetParameter(_ESPEAK_RANGE, int(pitch_range), 0)
            self._chunks, self._words = [], []
            status = self._lib.espeak_Synth(encoded, len(encoded), 0, _POS_CHARACTER, 0, _ESPEAK_CHARS_UTF8, None, None)
            chunks, self._chunks = self._chunks, []
            words, self._words = self._words, []
        if status != 0:
            raise EspeakError(f"eSpeak NG synthesis failed with status {status}")
        samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        return Speech(samples=samples, words=words)


_instance: Espeak | None = None
_instance_lock = threading.Lock()


def get() -> Espeak:
    global _instance
    with _instance_lock:
        if _instance is None:
            _instance = Espeak()
        return _instance
