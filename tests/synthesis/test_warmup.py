"""A worker warms the embedded engine when it starts, in the background, with the real
Dramatiq worker and engine."""

from __future__ import annotations

import threading
import time

import pytest

from synthesis import speaker_embedding, warmup
from synthesis.engines.embedded import profile
from synthesis.models import SpeakerStatus
from tests.conftest import wait_for_voice


def _warm_up_thread() -> threading.Thread | None:
    return next((t for t in threading.enumerate() if t.name == "warm-up"), None)


@pytest.fixture
def warming(settings):
    """Warm-up on (the test settings turn it off), and nothing warmed yet in this process."""
    settings.WORKER_WARM_UP = True
    settings.WORKER_WARM_LANGUAGES = ["en", "ja"]
    profile._probe_analysis.cache_clear()
    yield
    thread = _warm_up_thread()
    if thread is not None:
        thread.join(timeout=300)


def test_a_starting_worker_warms_the_engine_while_it_takes_jobs(warming, settings, tenant_a, worker):
    thread = _warm_up_thread()
    assert thread is not None, "no warm-up thread started with the worker"
    # The worker does not wait for it: a voice uploaded now is analysed at once.
    speaker_id = tenant_a.upload_voice().json()["id"]
    assert wait_for_voice(speaker_id).status == SpeakerStatus.READY
    thread.join(timeout=300)
    assert not thread.is_alive()
    assert speaker_embedding._encoder is not None
    variants = tuple(settings.EMBEDDED_VARIANTS)
    probed = profile._probe_analysis.cache_info().currsize
    assert probed == 2 * len(variants)  # both languages' probes, in every variant
    started = time.monotonic()
    profile.warm_probes("ja", variants)
    assert time.monotonic() - started < 0.5  # already there: nothing left to compute


def test_a_worker_that_analyses_no_voices_computes_no_probes(warming):
    thread = warmup.start(consumed={"eu.embedded.synthesis.high"})
    assert thread is not None
    thread.join(timeout=300)
    assert profile._probe_analysis.cache_info().currsize == 0
    assert speaker_embedding._encoder is not None


def test_no_warm_up_where_it_is_off_or_the_engine_is_not_run(settings):
    settings.WORKER_WARM_UP = False
    assert warmup.start(consumed=None) is None
    settings.WORKER_WARM_UP = True
    settings.WORKER_ENGINES = ["gpt-sovits"]
    assert warmup.start(consumed=None) is None


def test_every_thread_embeds_on_one_core_whichever_thread_loaded_the_network():
    """torch's thread count is per thread (OpenMP): once the warm-up thread loads the network,
    a job thread must still not spread its inference over every core."""
    import numpy as np
    import torch

    speaker_embedding.warm()
    seen = []

    def job():
        torch.set_num_threads(3)  # what a thread that never set it may run with
        speaker_embedding.embed(np.random.default_rng(2).normal(0, 0.1, 32000).astype(np.float32), 16000)
        seen.append(torch.get_num_threads())

    thread = threading.Thread(target=job)
    thread.start()
    thread.join()
    assert seen == [1]
