"""What a task's ``similarity`` means: the scale the API docs and the app give, and that the
real speaker-embedding network agrees with it on the fixture voices."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import soundfile as sf
import yaml
from rest_framework.test import APIClient

from synthesis import speaker_embedding
from tests.conftest import LONG_REFERENCE, VOICES

APP_JS = Path(__file__).resolve().parents[2] / "frontend" / "js" / "api.js"


def _thresholds() -> list[float]:
    """The scores at which the app's words for a similarity change."""
    source = APP_JS.read_text()
    body = source[source.index("export function similarityLabel") :].split("\n}\n")[0]
    return [float(x) for x in re.findall(r"score >= (0\.\d+)", body)]


def test_the_api_docs_give_the_scale_the_app_reads_out(db):
    document = yaml.safe_load(APIClient().get("/api/schema/").content)
    described = [
        schema["properties"]["similarity"]["description"]
        for schema in document["components"]["schemas"].values()
        if "similarity" in schema.get("properties", {})
    ]
    assert described
    thresholds = _thresholds()
    assert thresholds == [0.85, 0.75, 0.65]
    for description in described:
        assert "same speaker" in description
        assert "0.88-0.96" in description  # two recordings of one person
        for threshold in thresholds:
            assert f"{threshold:g}" in description


def test_the_network_scores_one_speaker_above_the_line_and_different_ones_below():
    samples, rate = sf.read(LONG_REFERENCE, dtype="float32")
    half = len(samples) // 2
    same = speaker_embedding.cosine(
        speaker_embedding.embed(samples[:half], rate), speaker_embedding.embed(samples[half:], rate)
    )
    assert same >= 0.85, same  # "the same speaker"
    clips = ["118-121721-0000.flac", "1688-142285-0000.flac", "2033-164914-0001.flac", "19-198-0000.flac"]
    embeddings = [speaker_embedding.embed(*sf.read(VOICES / clip, dtype="float32")) for clip in clips]
    for a, b in itertools.combinations(embeddings, 2):
        assert speaker_embedding.cosine(a, b) < 0.75  # never "likely the same speaker"
