"""eSpeak NG through ctypes: a word in, 16-bit samples out, the same samples every time.

eSpeak NG is a formant synthesizer (GPL-3.0-or-later) written in C. The ``espeakng-loader``
wheel ships its library and its data (pronunciation rules for ~100 languages and accents,
and ~100 voice variants) for pip; Debian's ``espeak-ng`` package is the other route. Only
eSpeak's classic C API (``speak_lib.h``) is used: initialise in *synchronous* mode, register
a callback that collects the samples, choose a voice, set rate and pitch, synthesize.

eSpeak keeps state between utterances that no call resets (the phase of its pitch
"flutter", its noise generator), so the same word said twice in one session differs a
little. Each utterance therefore loads the library afresh and unloads it afterwards: the
samples then depend only on the arguments, whatever was spoken before (it costs ~5 ms).
"""
from __future__ import annotations

import _ctypes
import ctypes
import ctypes.util
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import MissingDependencyError
from .core import DataArgumentError

SYNCHRONOUS = 2  # espeak_AUDIO_OUTPUT: samples come back through the callback before Synth returns
RATE, PITCH = 1, 3  # espeak_PARAMETER
POS_CHARACTER, CHARS_UTF8 = 1, 1
DONT_EXIT = 0x8000  # espeak_Initialize option: report missing data instead of exiting the process
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
_unload = getattr(_ctypes, "dlclose", None) or getattr(_ctypes, "FreeLibrary")  # POSIX, else Windows
_libc = ctypes.CDLL(None) if os.name == "posix" else ctypes.cdll.msvcrt


@lru_cache(maxsize=None)
def locate() -> tuple[str, str | None]:
    """(path of libespeak-ng, folder holding ``espeak-ng-data`` or None for the library's default).

    The wheel's copy first, so every install speaks with the same data; else the system's.
    """
    try:
        import espeakng_loader

        return espeakng_loader.get_library_path(), str(Path(espeakng_loader.get_data_path()).parent)
    except (ImportError, RuntimeError):  # RuntimeError: the wheel lacks its data folder
        pass
    system = ctypes.util.find_library("espeak-ng")
    if system:
        return system, None
    raise MissingDependencyError(
        "eSpeak NG, the speech synthesizer behind spoken_digits and spoken_words, is not installed. "
        "Install it with `python -m pip install espeakng-loader` (or re-run `make setup`; on Debian "
        "or Ubuntu `apt install espeak-ng` works too), then restart the kernel.")


def synthesize(text: str, voice: str = "en", rate: int = 175, pitch: int = 50,
               seed: int = 0) -> tuple[np.ndarray, int]:
    """``text`` spoken by eSpeak NG: int16 samples (T,) and their sample rate in Hz (22,050).

    ``voice`` is a language or accent with an optional variant, e.g. ``"en-us+f2"``;
    ``rate`` is in words per minute (80-450, normal 175); ``pitch`` is 0-100 (normal 50);
    ``seed`` seeds eSpeak's noise (breath, fricatives in some variants).
    """
    library, data = locate()
    lib = ctypes.CDLL(library)
    try:
        if lib.espeak_Initialize(SYNCHRONOUS, 0, data.encode() if data else None, DONT_EXIT) <= 0:
            raise MissingDependencyError(f"eSpeak NG found no voice data in {data or 'its default folder'}; "
                                         "reinstall it with `python -m pip install --force-reinstall espeakng-loader`.")
        try:
            return _say(lib, text, voice, rate, pitch, seed), lib.espeak_ng_GetSampleRate()
        finally:
            lib.espeak_Terminate()
    finally:
        _unload(lib._handle)  # unloaded: the next utterance starts from fresh state


def _say(lib, text: str, voice: str, rate: int, pitch: int, seed: int) -> np.ndarray:
    """Synthesize with an initialised library; the samples arrive through a callback, in chunks."""
    chunks = []

    @_CALLBACK
    def collect(samples, n, events):
        if samples and n > 0:
            chunks.append(np.ctypeslib.as_array(samples, (n,)).copy())
        return 0  # 0 = go on

    lib.espeak_SetSynthCallback(collect)
    if hasattr(lib, "espeak_ng_SetRandSeed"):  # eSpeak NG 1.52 has its own noise generator
        lib.espeak_ng_SetRandSeed(ctypes.c_long(seed))
    _libc.srand(ctypes.c_uint(seed))  # the Klatt variants (and eSpeak NG 1.51) use the C library's rand()
    if lib.espeak_SetVoiceByName(voice.encode()) != 0:
        raise DataArgumentError(f"eSpeak NG has no voice {voice!r}; use an accent such as 'en-us' with an "
                                "optional variant, e.g. 'en-us+f2' (see tlcourse.data.speech.ACCENTS and VARIANTS).")
    lib.espeak_SetParameter(RATE, int(rate), 0)
    lib.espeak_SetParameter(PITCH, int(pitch), 0)
    encoded = text.encode()
    lib.espeak_Synth(encoded, ctypes.c_size_t(len(encoded) + 1), 0, POS_CHARACTER, 0, CHARS_UTF8, None, None)
    lib.espeak_Synchronize()
    return np.concatenate(chunks) if chunks else np.zeros(0, np.int16)


@lru_cache(maxsize=None)
def version() -> str:
    """eSpeak NG's version, e.g. ``"1.52.0"``: part of every cache key, since another version speaks differently."""
    library, _ = locate()
    lib = ctypes.CDLL(library)
    try:
        lib.espeak_Info.restype = ctypes.c_char_p
        return lib.espeak_Info(None).decode().split()[0]
    finally:
        _unload(lib._handle)  # a library left loaded would keep its state between utterances

