"""How fast eSpeak NG makes notebook 06's spoken words and digits, and how fast the cache reads.

Run by hand (not part of the test suite)::

    python benchmarks/speech_generation.py                   # cpu profile sizes, 1 thread
    python benchmarks/speech_generation.py --profile smoke

For each set of :func:`tlcourse.tasks.speech_sets` it prints the clips, the seconds of the
first (cold) load, which synthesizes every clip, the clips per second that makes, the
seconds of a second (cached) load and the size of its cache file (16-bit samples). It uses a fresh temporary
cache, so your own cache is neither read nor filled.
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu", help="smoke, cpu or gpu: whose sizes to generate")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (synthesis is one thread anyway)")
    args = parser.parse_args()
    os.environ["TLCOURSE_CACHE"] = tempfile.mkdtemp(prefix="tlcourse-speech-")

    import torch

    from tlcourse.config import get_profile
    from tlcourse.data import espeak, load

    torch.set_num_threads(args.threads)
    profile = get_profile(args.profile)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
          f"torch {torch.__version__}, eSpeak NG {espeak.version()}; profile {profile.name}, {args.threads} thread(s)")
    sets = [("spoken_words", {"n": profile.speech_source_samples}),
            ("spoken_digits", {"n": profile.speech_target_samples, "split": "train"}),
            ("spoken_digits", {"n": profile.max_eval, "split": "test"})]
    print(f"{'set':<28}{'clips':>7}{'cold s':>9}{'clips/s':>9}{'cached s':>10}{'file MB':>9}")
    folder = Path(os.environ["TLCOURSE_CACHE"]) / "speech"
    for name, kwargs in sets:
        before = set(folder.glob("*.pt"))
        start = time.perf_counter()
        load(name, **kwargs)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        ds = load(name, **kwargs)
        cached = time.perf_counter() - start
        size = sum(p.stat().st_size for p in set(folder.glob("*.pt")) - before) / 1e6
        label = f"{name} {kwargs.get('split', '')}".strip()
        print(f"{label:<28}{len(ds):>7}{cold:>9.1f}{len(ds) / cold:>9.0f}{cached:>10.2f}{size:>9.0f}")


if __name__ == "__main__":
    main()
