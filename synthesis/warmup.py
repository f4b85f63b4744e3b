"""A worker loads what its first jobs need as soon as it starts, not in those jobs.

The first voice after a start took 44 s to become READY where the next took about 15: its
job loaded eSpeak, WORLD, torch with the speaker-embedding network and librosa, and spoke
and analysed the probe sentence in every eSpeak variant (the same for every voice, so
computed once per process and kept). A background thread does all that when the worker
boots, while the worker already takes jobs: a job that needs a piece before the thread has
it computes that piece itself (the caches are shared and locked), so nothing waits on it.

Only the embedded engine is warmed (a GPT-SoVITS worker loads a model pair per voice).
The probes are computed in workers that analyse voices (consume the profiles queue), for
the languages in WORKER_WARM_LANGUAGES (English by default: each language costs about 20 s
of one core, and a first voice in another language computes its own).
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings

from synthesis import queues

logger = logging.getLogger(__name__)

ENGINE = "embedded"


def start(*, consumed: set[str] | None) -> threading.Thread | None:
    """Warm this worker's engine in a background thread; ``consumed`` is the worker's queues
    (None: all of them). None when there is nothing to warm."""
    if not settings.WORKER_WARM_UP or ENGINE not in settings.WORKER_ENGINES:
        return None
    profiles = consumed is None or any(
        name.partition(".")[2] == queues.for_engine(queues.PROFILES, ENGINE) for name in consumed
    )
    languages = tuple(settings.WORKER_WARM_LANGUAGES) if profiles else ()
    thread = threading.Thread(target=warm, kwargs={"profile_languages": languages}, name="warm-up", daemon=True)
    thread.start()
    return thread


def warm(*, profile_languages: tuple[str, ...] = ()) -> None:
    from synthesis.engines import get_engine

    started = time.monotonic()
    try:
        get_engine(ENGINE).warm(profile_languages=profile_languages)
    except Exception:  # the jobs load what they need themselves; a failed warm-up costs only time
        logger.exception("warming the %s engine failed", ENGINE)
        return
    logger.info("%s engine warm in %.1f s (voice analysis: %s)", ENGINE, time.monotonic() - started,
                ", ".join(profile_languages) or "not on this worker")  # fmt: skip
