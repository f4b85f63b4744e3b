"""The browser app's task controls in real Chromium against the whole stack, at desktop and
phone width: Cancel on the Synthesize and History pages, the format chooser and the
download's name, and the Voices page's form and status line (issue 16, items 10 and 21).

Screenshots land in ``test-artifacts/screenshots/`` (git-ignored)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from tests.conftest import LONG_REFERENCE
from tests.test_browser import CHROMIUM, browser, shot, sign_in  # noqa: F401 - browser is a fixture

pytestmark = [
    pytest.mark.stack,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed (.ci/run installs it)"),
]

SIZES = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}
# Long enough to be still running when Cancel is pressed: the worker speaks it a sentence at a time.
LONG_TEXT = " ".join(f"This is sentence number {n} of a long text that nobody will hear to the end." for n in range(60))
TERMINAL = ("DONE", "FAILED", "CANCELLED")


@pytest.fixture(scope="module")
def stack(shared_stack):
    """The run's shared stack (tests/conftest.py), with this module's tenant and its API voice."""
    shared_stack.manage("createtenant", "studio", "--owner", "carol", "--password", "carol-password-1",
                        "--accept-dpa")  # fmt: skip
    key = shared_stack.manage("createapikey", "--tenant", "studio").strip().splitlines()[-1]
    api = httpx.Client(base_url=shared_stack.base, headers={"X-API-Key": key}, timeout=60)
    with open(LONG_REFERENCE, "rb") as fh:
        voice = api.post("/api/v1/speakers", data={"name": "Narrator", "language": "en"},
                         files={"audio": ("v.flac", fh, "audio/flac")}).json()["id"]  # fmt: skip
    deadline = time.monotonic() + 180
    while api.get(f"/api/v1/speakers/{voice}").json()["status"] == "PROCESSING":
        assert time.monotonic() < deadline, "the voice was not ready within three minutes"
        time.sleep(0.5)
    return SimpleNamespace(base=shared_stack.base, api=api, voice=voice)


def _task(stack, task_id) -> dict:
    return stack.api.get(f"/api/v1/tasks/{task_id}").json()


def _wait_ended(stack, task_id, timeout=120) -> dict:
    deadline = time.monotonic() + timeout
    while (task := _task(stack, task_id))["status"] not in TERMINAL:
        assert time.monotonic() < deadline, task
        time.sleep(0.3)
    return task


def _no_sideways_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"] + 1


@pytest.mark.parametrize("size", SIZES)
def test_a_person_cancels_a_running_task_on_the_synthesize_page(browser, stack, size):  # noqa: F811
    page = sign_in(browser, stack, "carol", "carol-password-1", **SIZES[size])
    page.goto(f"{stack.base}/synthesize/")
    page.get_by_label("Voice", exact=True).locator("option", has_text="Narrator").wait_for(state="attached")
    # Nothing followed yet: no empty progress bar, nothing to cancel.
    assert not page.locator("#task-progress").is_visible()
    assert not page.get_by_role("button", name="Cancel").is_visible()

    page.get_by_label("Text").fill(LONG_TEXT)
    page.get_by_label("Format").select_option("mp3")
    page.get_by_role("button", name="Synthesize").click()
    cancel = page.get_by_role("button", name="Cancel")
    cancel.wait_for(timeout=30_000)
    assert page.locator("#task-progress").is_visible()
    task_id = page.evaluate("""() => new Promise((done) => { const wait = () => {
        const m = (document.querySelector('#task-audio').src || '').match(/tasks\\/([0-9a-f-]{36})/);
        m ? done(m[1]) : setTimeout(wait, 100); }; wait(); })""")  # the stream of the task being followed
    _no_sideways_scroll(page)
    shot(page, f"synthesize-cancel-{size}")
    cancel.click()
    page.locator("#task-status").get_by_text("Cancelled", exact=False).wait_for(timeout=60_000)
    assert not cancel.is_visible()
    assert not page.locator("#task-audio").is_visible()  # no audio will ever come: no player, no download
    assert page.get_by_role("button", name="Synthesize").is_enabled()
    task = _task(stack, task_id)
    assert (task["status"], task["output_format"]) == ("CANCELLED", "mp3")
    audio = stack.api.get(f"/api/v1/tasks/{task_id}/audio")
    assert audio.status_code == 409
    assert (audio.json()["error"]["code"], audio.json()["error"]["retryable"]) == ("TASK_CANCELLED", False)
    shot(page, f"synthesize-cancelled-{size}")


@pytest.mark.parametrize("size", SIZES)
def test_the_chosen_format_plays_and_downloads_under_the_voices_name(browser, stack, size):  # noqa: F811
    page = sign_in(browser, stack, "carol", "carol-password-1", **SIZES[size])
    page.goto(f"{stack.base}/synthesize/")
    page.get_by_label("Voice", exact=True).locator("option", has_text="Narrator").wait_for(state="attached")
    page.get_by_label("Text").fill("A short one, in Opus. Then it is done.")
    page.get_by_label("Format").select_option("ogg")
    page.get_by_role("button", name="Synthesize").click()
    page.locator("#task-status").get_by_text("Done", exact=False).wait_for(timeout=120_000)
    page.wait_for_function("document.querySelector('#task-audio').duration > 0", timeout=30_000)
    assert not page.get_by_role("button", name="Cancel").is_visible()
    duration = page.locator("#task-meta").inner_text()
    assert re.search(r"\b\d+:\d\d$", duration), duration  # the player's own format, m:ss
    link = page.get_by_role("link", name="Download")
    download = page.request.get(stack.base + link.get_attribute("href"))
    assert download.status == 200
    assert download.headers["content-type"] == "audio/ogg"
    name = re.search(r'filename="([^"]+)"', download.headers["content-disposition"])[1]
    assert re.fullmatch(r"narrator-\d{4}-\d\d-\d\d-\d{4}\.ogg", name), name
    with page.expect_download() as saved:
        link.click()
    assert saved.value.suggested_filename == name
    shot(page, f"synthesize-ogg-{size}")


@pytest.mark.parametrize("size", SIZES)
def test_a_person_cancels_a_task_from_the_history_page(browser, stack, size):  # noqa: F811
    response = stack.api.post("/api/v1/tasks", json={"text": LONG_TEXT, "speaker_id": stack.voice, "language": "en"})
    task_id = response.json()["id"]
    page = sign_in(browser, stack, "carol", "carol-password-1", **SIZES[size])
    page.goto(f"{stack.base}/history/")
    row = page.locator(f'tr[data-id="{task_id}"]')
    row.wait_for(timeout=30_000)
    cancel = row.get_by_role("button", name="Cancel the task")
    cancel.wait_for(timeout=10_000)
    _no_sideways_scroll(page)
    shot(page, f"history-cancel-{size}")
    cancel.click()
    page.locator(f'tr[data-id="{task_id}"][data-status="CANCELLED"]').wait_for(timeout=60_000)
    assert page.locator(f'tr[data-id="{task_id}"]').get_by_role("button", name="Cancel the task").count() == 0
    assert _wait_ended(stack, task_id)["status"] == "CANCELLED"
    # Finished tasks offer no Cancel.
    for status in ("DONE", "FAILED", "CANCELLED"):
        assert page.locator(f'tr[data-status="{status}"] .cell-actions').get_by_text("Cancel", exact=True).count() == 0
    shot(page, f"history-cancelled-{size}")


@pytest.mark.parametrize("size", SIZES)
def test_the_voices_page_flags_every_missing_field_and_says_when_a_voice_is_ready(browser, stack, size):  # noqa: F811
    page = sign_in(browser, stack, "carol", "carol-password-1", **SIZES[size])
    page.goto(f"{stack.base}/voices/")
    page.locator("#voice-list .voice-row").first.wait_for(timeout=30_000)
    page.get_by_role("button", name="Upload voice").click()
    assert page.locator("#voice-name-error").inner_text() == "Give the voice a name."
    assert page.locator("#voice-audio-error").inner_text() == "Choose an audio file or record one."
    assert page.evaluate("document.activeElement.id") == "voice-name"

    page.get_by_label("Voice name").fill(f"Second {size}")
    page.get_by_label("Reference audio").set_input_files(str(LONG_REFERENCE))
    page.get_by_role("button", name="Upload voice").click()
    status = page.locator("#upload-status")
    status.get_by_text(f"“Second {size}” is ready.").wait_for(timeout=180_000)  # not "being analysed" any more
    assert "analysed" not in status.inner_text()
    meta = page.locator("#voice-list .row-meta").first
    assert re.search(r"\b\d+:\d\d\b", meta.inner_text()), meta.inner_text()  # durations as the player shows them
    # Each separator sits before its item and is clipped where an item starts a line: none dangles.
    separators = page.evaluate("""() => [...document.querySelectorAll('#voice-list .row-meta')].flatMap((meta) => {
        const clip = meta.getBoundingClientRect().left + 16;
        const spans = [...meta.children];
        return spans.map((span, i) => {
            const box = span.getBoundingClientRect();
            const startsLine = i === 0 || box.top > spans[i - 1].getBoundingClientRect().top + 2;
            const bullet = box.left + parseFloat(getComputedStyle(span, '::before').left);
            return {startsLine, shown: bullet >= clip};
        });
    })""")
    assert separators
    assert all(s["shown"] != s["startsLine"] for s in separators), separators
    _no_sideways_scroll(page)
    shot(page, f"voices-ready-{size}")
