"""The GPT-SoVITS engine through the whole service, on tiny random models built at test time.

Offline: every outbound connection is refused (``gpt_sovits`` fixture). The audio is
noise (random weights); what is checked is that real upstream-format files load,
voices profile, tasks in three languages run through the real Dramatiq worker and
come back at 32 kHz, that queues keep engines apart, and that voices never mix.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import time

import dramatiq
import numpy as np
import pytest
import soundfile as sf
from django.conf import settings
from django.core.management import CommandError, call_command
from django.core.management.base import SystemCheckError

from synthesis import profiles, queues, results, storage
from synthesis.engines import get_engine
from synthesis.engines.base import SynthesisRequest
from synthesis.models import ModelStatus, Speaker, SpeakerStatus, SynthesisModel, Task, TaskStatus
from synthesis.services.models import model_check
from tests.conftest import LONG_REFERENCE, REFERENCE, VOICES, assert_word_timestamps, wait_for_task, wait_for_voice

SECOND_REFERENCE = VOICES / "2033-164914-0001.flac"
TRANSCRIPT = "This is a test of my voice."


def _register(pair, name="base", default=True) -> SynthesisModel:
    args = ["addmodel", name, "--gpt", str(pair["gpt"]), "--sovits", str(pair["sovits"])]
    call_command(*args, *(["--default"] if default else []), stdout=io.StringIO())
    return SynthesisModel.objects.get(name=name)


def _gpt_voice(world, path=REFERENCE, **fields) -> str:
    response = world.upload_voice(path, engine="gpt-sovits", reference_text=TRANSCRIPT, **fields)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["engine"] == "gpt-sovits"
    assert body["model_id"]
    return body["id"]


def _altered(source, tmp_path, name, edit) -> str:
    data = bytearray(source.read_bytes())
    edit(data)
    target = tmp_path / name
    target.write_bytes(bytes(data))
    return str(target)


def test_addmodel_registers_a_pair_and_refuses_broken_or_unsupported_files(gpt_sovits, db, tmp_path):
    pair = gpt_sovits["pairs"]["v2ProPlus"]
    model = _register(pair)
    assert (model.status, model.version, model.is_default, model.tenant) == ("READY", "v2ProPlus", True, None)

    def middle_zeroed(data):
        middle = len(data) // 2
        data[middle : middle + 256] = bytes(256)

    refused = {
        "corrupted": (_altered(pair["sovits"], tmp_path, "corrupt.pth", middle_zeroed), "MODEL_INVALID"),
        "v4 header": (_altered(pair["sovits"], tmp_path, "v4.pth", lambda d: d.__setitem__(slice(0, 2), b"04")),
                      "UNSUPPORTED_MODEL_VERSION"),
        "not a checkpoint": (str(REFERENCE), "MODEL_INVALID"),
    }  # fmt: skip
    for name, (sovits, code) in refused.items():
        with pytest.raises(CommandError, match=code):
            call_command("addmodel", name, "--gpt", str(pair["gpt"]), "--sovits", sovits, stdout=io.StringIO())
    with pytest.raises(CommandError, match="v4"):
        call_command("addmodel", "x", "--gpt", str(pair["gpt"]), "--sovits", refused["v4 header"][0])
    # A GPT file given as the SoVITS one, and the other way round.
    with pytest.raises(CommandError, match="MODEL_INVALID"):
        call_command("addmodel", "swapped", "--gpt", str(pair["sovits"]), "--sovits", str(pair["gpt"]))
    assert SynthesisModel.objects.count() == 1

    # A model added without a check (the admin console's way) is checked by a worker-side job.
    second = SynthesisModel.objects.create(name="later", gpt_path=str(pair["gpt"]), sovits_path=refused["v4 header"][0])
    model_check(model_id=second.id)
    second.refresh_from_db()
    assert second.status == ModelStatus.FAILED
    assert second.error["code"] == "UNSUPPORTED_MODEL_VERSION"
    assert second.error["details"]["found"] == "v4"


def test_check_names_a_missing_asset_and_what_it_is_for(gpt_sovits, settings, tmp_path):
    call_command("check", stdout=io.StringIO())  # the tiny set is complete
    broken = tmp_path / "assets"
    shutil.copytree(gpt_sovits["assets"], broken)
    (broken / "g2p" / "zh" / "opencpop-strict.txt").unlink()
    settings.GPT_SOVITS_ASSETS_DIR = str(broken)
    with pytest.raises(SystemCheckError, match=r"opencpop-strict\.txt is missing or empty: Chinese pinyin"):
        call_command("check", stdout=io.StringIO())
    settings.WORKER_ENGINES = ["embedded"]  # a web node or CPU worker: reported, not fatal
    output = io.StringIO()
    call_command("check", stdout=output, stderr=output)
    assert "opencpop-strict.txt" in output.getvalue()


def test_models_api_lists_what_a_tenant_may_use(gpt_sovits, tenant_a, tenant_b):
    model = _register(gpt_sovits["pairs"]["v2ProPlus"])
    for world in (tenant_a, tenant_b):
        listed = world.client.get("/api/v1/models").json()
        assert [(m["id"], m["version"], m["is_default"], m["base"], m["status"]) for m in listed] == [
            (str(model.id), "v2ProPlus", True, True, "READY")
        ]
        assert "path" not in json.dumps(listed)
    engines = tenant_a.client.get("/api/v1/engines").json()
    assert [e["name"] for e in engines] == ["embedded", "gpt-sovits"]
    assert engines[1]["languages"] == ["en", "ja", "zh"]
    assert engines[1]["needs_reference_text"] is True


def test_the_voices_page_offers_the_engines_and_ready_models(gpt_sovits, tenant_a):
    model = _register(gpt_sovits["pairs"]["v2ProPlus"])
    tenant_a.client.force_login(tenant_a.owner)
    page = tenant_a.client.get("/voices/").content.decode()
    assert '<select id="voice-engine"' in page
    assert f'<option value="{model.id}" data-engine="gpt-sovits"' in page
    assert 'data-needs-text="1"' in page


def test_a_gpt_sovits_voice_is_checked_at_upload(gpt_sovits, tenant_a):
    missing_text = tenant_a.upload_voice(engine="gpt-sovits", reference_text="")
    assert missing_text.status_code == 400
    assert "reference_text" in missing_text.json()["error"]["details"]["fields"]
    no_model = tenant_a.upload_voice(engine="gpt-sovits", reference_text=TRANSCRIPT)
    assert no_model.json()["error"]["details"]["fields"].keys() == {"model_id"}
    _register(gpt_sovits["pairs"]["v2ProPlus"])
    too_long = tenant_a.upload_voice(LONG_REFERENCE, engine="gpt-sovits", reference_text=TRANSCRIPT)
    assert too_long.json()["error"]["code"] == "AUDIO_TOO_LONG"
    assert too_long.json()["error"]["details"]["max_seconds"] == 10
    korean = tenant_a.upload_voice(engine="gpt-sovits", reference_text=TRANSCRIPT, language="ko")
    assert korean.json()["error"]["code"] == "UNSUPPORTED_LANGUAGE"
    unknown = tenant_a.upload_voice(engine="vall-e", reference_text=TRANSCRIPT)
    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "UNSUPPORTED_ENGINE"
    foreign = tenant_a.upload_voice(engine="gpt-sovits", reference_text=TRANSCRIPT, model_id=str(Task().id))
    assert foreign.status_code == 404
    assert Speaker.objects.count() == 0


def _result_audio(task: Task) -> tuple[np.ndarray, int]:
    data = storage.get(tenant=task.tenant, object_key=task.result_key)
    return sf.read(io.BytesIO(data), dtype="float32")


def test_gpt_sovits_voice_speaks_three_languages_through_the_worker(gpt_sovits, tenant_a, worker):
    model = _register(gpt_sovits["pairs"]["v2ProPlus"])
    speaker_id = _gpt_voice(tenant_a)
    speaker = wait_for_voice(speaker_id)
    assert speaker.status == SpeakerStatus.READY, speaker.error
    assert (speaker.engine, speaker.model_id, speaker.profile_engine) == ("gpt-sovits", model.id, "gpt-sovits")
    stored = profiles.deserialise(storage.get(tenant=speaker.tenant, object_key=speaker.profile_key))
    assert stored.profile.data["model_id"] == str(model.id)
    assert TRANSCRIPT not in json.dumps(stored.profile.data)

    texts = {
        "en": "Hello world. This is a test.",
        "zh": "你好，世界。这是一个测试。",
        "ja": "こんにちは。これはテストです。",
    }
    ids = {}
    for language, text in texts.items():
        response = tenant_a.create_task(speaker_id, text=text, language=language, params={"seed": 7})
        assert response.status_code == 202, response.content
        ids[language] = response.json()["id"]
    for output_format in ("flac", "ogg", "mp3"):
        response = tenant_a.create_task(speaker_id, text="Hello world.", output_format=output_format)
        ids[output_format] = response.json()["id"]
    for kind, task_id in ids.items():
        task = wait_for_task(task_id, timeout=180)
        assert task.status == TaskStatus.DONE, (kind, task.error)
        audio, rate = _result_audio(task)
        assert rate == task.sample_rate == (48000 if kind == "ogg" else 32000)  # Opus has no 32 kHz
        assert len(audio) / rate == pytest.approx(task.duration_seconds, abs=0.01)
        assert task.duration_seconds > 0.1
        assert_word_timestamps(task)
    wrong = tenant_a.create_task(speaker_id, text="안녕하세요", language="ko")
    assert wrong.status_code == 400
    assert wrong.json()["error"]["details"]["engine"] == "gpt-sovits"


def test_a_gpt_sovits_task_streams_a_segment_at_a_time_and_stores_what_it_streamed(gpt_sovits, tenant_a, worker):
    import asyncio

    from synthesis import live_audio

    _register(gpt_sovits["pairs"]["v2ProPlus"])
    speaker_id = _gpt_voice(tenant_a)
    assert wait_for_voice(speaker_id).status == SpeakerStatus.READY
    text = "Hello world, this is a test. The second sentence follows it. And here is the third one."
    task_id = tenant_a.create_task(speaker_id, text=text, params={"seed": 3}).json()["id"]  # seeded: run alone
    assert wait_for_task(task_id, timeout=180).status == TaskStatus.DONE

    async def replay(task):
        return [event async for event in live_audio.follow(task)]

    task = Task.objects.select_related("tenant").get(id=task_id)
    events = asyncio.run(replay(task))
    pieces = [event for event in events if isinstance(event, live_audio.Piece)]
    assert isinstance(events[0], live_audio.Started)
    assert events[-1] == live_audio.Ended(TaskStatus.DONE, "")
    assert len(pieces) >= 2  # a piece per segment of the library's, not the whole at the end
    streamed = np.frombuffer(b"".join(piece.pcm for piece in pieces), dtype="<i2")
    stored, rate = sf.read(io.BytesIO(storage.get(tenant=task.tenant, object_key=task.result_key)), dtype="int16")
    assert rate == events[0].rate
    assert np.array_equal(streamed, stored)
    assert [w["text_start"] for piece in pieces for w in piece.words] == [w[2] for w in assert_word_timestamps(task)]


def test_a_worker_serving_only_embedded_never_takes_a_gpt_sovits_task(gpt_sovits, tenant_a, transactional_db):
    import synthesis.actors  # noqa: F401 - declares the actors

    _register(gpt_sovits["pairs"]["v2ProPlus"])
    gpt_voice = tenant_a.ready_voice(engine="gpt-sovits", reference_text=TRANSCRIPT)
    embedded_voice = tenant_a.ready_voice()
    broker = dramatiq.get_broker()
    broker.flush_all()

    def start(engines):
        names = set(queues.of_regions(settings.REGIONS, engines))
        worker = dramatiq.Worker(broker, queues=names, worker_threads=1, worker_timeout=100)
        worker.start()
        return worker

    embedded_only = start(["embedded"])
    try:
        gpt_task = tenant_a.create_task(gpt_voice, text="Hello world.").json()["id"]
        embedded_task = tenant_a.create_task(embedded_voice, text="Hello world.").json()["id"]
        assert wait_for_task(embedded_task).status == TaskStatus.DONE
        time.sleep(1)
        assert Task.objects.get(id=gpt_task).status == TaskStatus.PENDING
    finally:
        embedded_only.stop()
    gpt_worker = start(["gpt-sovits"])
    try:
        assert wait_for_task(gpt_task, timeout=180).status == TaskStatus.DONE
    finally:
        gpt_worker.stop()
        broker.flush_all()


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference; audio of different lengths is as far apart as can be."""
    return float(np.abs(a - b).mean()) if len(a) == len(b) else float("inf")


def test_each_task_speaks_with_its_own_voice_profile(gpt_sovits, tenant_a, worker):
    """Two voices on one model, their tasks in one batch, interleaved: each result is what the
    engine makes from that task's own stored profile (same seed; to the last bit but for float
    rounding between runs), and far from what it makes from the other's."""
    _register(gpt_sovits["pairs"]["v2ProPlus"])
    voices = [_gpt_voice(tenant_a, REFERENCE, name="first"), _gpt_voice(tenant_a, SECOND_REFERENCE, name="second")]
    for voice in voices:
        assert wait_for_voice(voice).status == SpeakerStatus.READY
    text, seed = "Hello world.", 11
    items = [{"speaker_id": voices[i % 2], "text": text, "language": "en", "params": {"seed": seed}} for i in range(4)]
    batch = tenant_a.client.post("/api/v1/batches", {"requests": items}, format="json")
    assert batch.status_code == 202, batch.content
    tasks = [wait_for_task(item["id"], timeout=180) for item in batch.json()["tasks"]]
    assert [t.status for t in tasks] == [TaskStatus.DONE] * 4

    engine = get_engine("gpt-sovits")
    expected = {}
    for voice in voices:
        speaker = Speaker.objects.get(id=voice)
        stored = profiles.deserialise(storage.get(tenant=speaker.tenant, object_key=speaker.profile_key))
        request = SynthesisRequest(text=text, language="en", profile=stored.profile, params={"seed": seed})
        output = engine.synthesize([request])[0]
        data, _ = results.encode(output.audio, output.sample_rate, output_format="wav", sample_rate=None)
        expected[voice] = sf.read(io.BytesIO(data), dtype="float32")[0]
    one_bit = 1 / 32768
    assert _distance(expected[voices[0]], expected[voices[1]]) > 100 * one_bit
    for task in tasks:
        audio, _ = _result_audio(task)
        own, other = expected[str(task.speaker_id)], expected[voices[1 - voices.index(str(task.speaker_id))]]
        assert len(audio) == len(own)
        assert np.abs(audio - own).max() <= 2 * one_bit
        assert _distance(audio, other) > 100 * one_bit


def test_a_model_a_worker_cannot_load_fails_the_task_without_naming_a_path(gpt_sovits, tenant_a, worker, tmp_path):
    pair = gpt_sovits["pairs"]["v2"]
    copies = {name: shutil.copy(path, tmp_path / os.path.basename(path)) for name, path in pair.items()}
    model = _register(copies, name="fragile")
    voice = _gpt_voice(tenant_a)
    assert wait_for_voice(voice).status == SpeakerStatus.READY
    get_engine("gpt-sovits").unload_model(str(model.id))
    os.remove(copies["sovits"])  # the file is gone from this worker
    task = wait_for_task(tenant_a.create_task(voice, text="Hello world.").json()["id"], timeout=120)
    assert task.status == TaskStatus.FAILED
    assert task.error["code"] == "MODEL_LOAD_FAILED"
    assert task.error["category"] == "SYSTEM"
    assert task.error["retryable"]
    assert task.error["details"] == {"model_id": str(model.id), "exception": "FileNotFoundError"}
    assert str(tmp_path) not in json.dumps(tenant_a.client.get(f"/api/v1/tasks/{task.id}").json())


@pytest.fixture
def empty_pool():
    """The worker process's engine with no model loaded; its budget restored afterwards."""
    engine = get_engine("gpt-sovits")
    budget = engine.memory_budget
    for model_id in list(engine.loaded_models()):
        engine.unload_model(model_id)
    engine.peak_models = 0
    yield engine
    engine.memory_budget = budget


def test_a_budget_for_one_pair_serves_two_pairs_in_turn(gpt_sovits, tenant_a, worker, empty_pool):
    first, second = _register(gpt_sovits["pairs"]["v2ProPlus"]), _register(gpt_sovits["pairs"]["v2"], "second", False)
    voices = [
        _gpt_voice(tenant_a, name="on first"),
        _gpt_voice(tenant_a, SECOND_REFERENCE, name="on second", model_id=str(second.id)),
    ]
    for voice in voices:
        assert wait_for_voice(voice).status == SpeakerStatus.READY
    sizes = empty_pool.loaded_models()
    assert set(sizes) == {str(first.id), str(second.id)}  # profiling loaded both: the default budget holds both
    empty_pool.memory_budget = max(sizes.values()) + min(sizes.values()) // 2  # one at a time
    empty_pool.peak_models = len(sizes)
    for model_id in list(sizes):
        empty_pool.unload_model(model_id)
    empty_pool.peak_models = 0
    ids = [tenant_a.create_task(voices[i % 2], text="Hello world.").json()["id"] for i in range(4)]
    tasks = [wait_for_task(task_id, timeout=180) for task_id in ids]
    assert [t.status for t in tasks] == [TaskStatus.DONE] * 4, [t.error for t in tasks]
    assert empty_pool.peak_models == 1
    assert len(empty_pool.loaded_models()) == 1


def test_a_pair_larger_than_the_whole_budget_fails_its_task_clearly(gpt_sovits, tenant_a, worker, empty_pool):
    _register(gpt_sovits["pairs"]["v2ProPlus"])
    voice = _gpt_voice(tenant_a)
    assert wait_for_voice(voice).status == SpeakerStatus.READY
    for model_id in list(empty_pool.loaded_models()):
        empty_pool.unload_model(model_id)
    empty_pool.memory_budget = 1024 * 1024
    task = wait_for_task(tenant_a.create_task(voice, text="Hello world.").json()["id"], timeout=60)
    assert task.status == TaskStatus.FAILED
    assert task.error["code"] == "MODEL_TOO_LARGE"
    assert task.error["details"]["budget_mb"] == 1
    assert task.error["details"]["needed_mb"] > 1
    assert empty_pool.loaded_models() == {}


def _poison(speaker_id) -> None:
    """Give a voice a stored profile whose BERT features have the wrong width: the library
    fails on it (and on any batch it is in)."""
    import base64

    import torch

    speaker = Speaker.objects.get(id=speaker_id)
    stored = profiles.deserialise(storage.get(tenant=speaker.tenant, object_key=speaker.profile_key))
    tensors = torch.load(io.BytesIO(base64.b64decode(stored.profile.data["tensors"])), weights_only=True)
    tensors["bert"] = torch.zeros(tensors["bert"].shape[0], 1023, dtype=tensors["bert"].dtype)
    buffer = io.BytesIO()
    torch.save(tensors, buffer)
    data = {**stored.profile.data, "tensors": base64.b64encode(buffer.getvalue()).decode()}
    poisoned = profiles.StoredProfile(profile=type(stored.profile)(engine="gpt-sovits", data=data),
                                      embedding=stored.embedding)  # fmt: skip
    key = storage.put(tenant=speaker.tenant, kind="profiles", data=profiles.serialise(poisoned))
    Speaker.objects.filter(id=speaker.id).update(profile_key=key)


def test_tasks_of_three_tenants_share_batched_calls_and_a_poisoned_one_fails_alone(
    gpt_sovits, tenant_a, tenant_b, transactional_db, empty_pool
):
    import synthesis.actors  # noqa: F401 - declares the actors
    from synthesis.engines.gpt_sovits.engine import voice_key
    from tests.conftest import TenantWorld

    _register(gpt_sovits["pairs"]["v2ProPlus"])
    worlds = [tenant_a, tenant_b, TenantWorld("charlie")]
    voices = [world.ready_voice(engine="gpt-sovits", reference_text=TRANSCRIPT) for world in worlds]
    poisoned = worlds[2].ready_voice(SECOND_REFERENCE, name="poisoned", engine="gpt-sovits",
                                     reference_text=TRANSCRIPT)  # fmt: skip
    _poison(poisoned)
    own_key = {}
    for voice in [*voices, poisoned]:
        speaker = Speaker.objects.get(id=voice)
        raw = storage.get(tenant=speaker.tenant, object_key=speaker.profile_key)
        own_key[voice] = voice_key(profiles.deserialise(raw).profile)
    broker = dramatiq.get_broker()
    broker.flush_all()

    def run(items):
        """Queue every (world, voice, text) first, then let an 8-thread worker take them."""
        ids = {world.create_task(v, text=text).json()["id"]: (v, text) for world, v, text in items}
        worker = dramatiq.Worker(broker, worker_threads=8, worker_timeout=100)
        calls = empty_pool.calls
        worker.start()
        try:
            tasks = {task_id: wait_for_task(task_id, timeout=300) for task_id in ids}
        finally:
            worker.stop()
        return ids, tasks, empty_pool.calls - calls

    words = ["hello", "world", "test", "voice", "good", "morning", "one", "two", "three", "speak", "today", "it"]
    items = [(worlds[i % 3], voices[i % 3], f"{words[i].capitalize()}, this is a test.") for i in range(12)]
    ids, tasks, calls = run(items)
    assert [t.status for t in tasks.values()] == [TaskStatus.DONE] * 12, [t.error for t in tasks.values()]
    assert calls < 12
    for task in tasks.values():  # timed by the batched call too
        assert_word_timestamps(task)
    spoken = dict(empty_pool.spoken)
    for voice, text in ids.values():
        assert spoken[text] == own_key[voice]  # each item of a batch spoke with its own voice's profile

    items = [(worlds[0], voices[0], "Hello, good morning."), (worlds[2], poisoned, "Hello, a poisoned voice."),
             (worlds[1], voices[1], "World, good morning.")]  # fmt: skip
    ids, tasks, _ = run(items)
    outcome = {ids[task_id][1]: (task.status, (task.error or {}).get("code")) for task_id, task in tasks.items()}
    assert outcome == {
        "Hello, good morning.": (TaskStatus.DONE, None),
        "Hello, a poisoned voice.": (TaskStatus.FAILED, "ENGINE_ERROR"),
        "World, good morning.": (TaskStatus.DONE, None),
    }
    broker.flush_all()


def test_api_v2_clients_switch_models_and_pass_their_parameters(gpt_sovits, tenant_a, worker):
    _register(gpt_sovits["pairs"]["v2ProPlus"])
    other = _register(gpt_sovits["pairs"]["v2"], "tiny-v2", default=False)
    voice = _gpt_voice(tenant_a, name="Anna")
    assert wait_for_voice(voice).status == SpeakerStatus.READY
    client = tenant_a.client

    assert client.get("/set_gpt_weights", {"weights_path": "nothing-like-it"}).status_code == 404
    chosen = client.get("/set_gpt_weights", {"weights_path": "GPT_weights_v2/tiny-v2.ckpt"})
    assert chosen.status_code == 200
    assert chosen.json()["message"] == "success"
    assert client.get("/set_sovits_weights", {"weights_path": str(other.id)}).json()["model"] == "tiny-v2"

    body = {"text": "Hello world.", "text_lang": "en", "ref_audio_path": "Anna", "top_k": 5, "seed": 3,
            "batch_size": 4, "text_split_method": "cut5"}  # fmt: skip
    response = client.post("/tts", body, format="json")
    assert response.status_code == 200, response.content
    assert sf.info(io.BytesIO(response.content)).samplerate == 32000
    assert set(response["X-Ignored-Parameters"].split(", ")) == {"batch_size", "text_split_method"}
    task = Task.objects.filter(tenant=tenant_a.tenant).latest("created_at")
    assert task.params == {"speed": 1.0, "top_k": 5, "seed": 3, "model_id": str(other.id)}

    client.get("/set_gpt_weights", {"weights_path": "base"})  # the two halves from different models
    mixed = client.post("/tts", body, format="json")
    assert mixed.status_code == 400
    assert "different models" in mixed.json()["error"]["message"]


def test_the_tiny_model_command_prints_settings_that_work(db, tmp_path, settings):
    import re
    import shlex

    output = io.StringIO()
    call_command("gpt_sovits_tiny_models", str(tmp_path / "set"), "--model-version", "v2", stdout=output)
    text = output.getvalue()
    assert "noise" in text
    settings.GPT_SOVITS_ASSETS_DIR = re.search(r"GPT_SOVITS_ASSETS_DIR=(\S+)", text).group(1)
    settings.SYNTHESIS_ENGINES = settings.WORKER_ENGINES = ["embedded", "gpt-sovits"]
    call_command("check", stdout=io.StringIO())  # every asset the engine needs is there
    line = next(line for line in text.splitlines() if "manage.py addmodel" in line)
    argv = shlex.split(line.split("manage.py", 1)[1])
    call_command(*argv, stdout=io.StringIO())
    assert SynthesisModel.objects.get(name="tiny-v2").version == "v2"
