"""End-to-end in a real browser: Debian's Chromium driven by Playwright against the
whole stack (`make run`'s processes, the real worker and engine).

Screenshots of every page land in ``test-artifacts/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
import pytest

from deploy.sandbox import ROOT
from tests.conftest import LONG_REFERENCE, SHORT_REFERENCE

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = ROOT / "test-artifacts" / "screenshots"
PARAGRAPH = (
    "Good morning, and welcome to the voice platform. This paragraph is read in the voice you uploaded. "
    "Every sentence is made in turn, so the progress bar moves as the work goes on. "
    "When it is done, the player below lets you listen to the result. Thank you for trying it."
)

pytestmark = [
    pytest.mark.stack,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed (.ci/run installs it)"),
]


@pytest.fixture(scope="module")
def stack(shared_stack):
    """The run's shared stack (tests/conftest.py), with this module's two tenants."""
    shared_stack.manage("createtenant", "acme", "--owner", "alice", "--password", "alice-password-1", "--accept-dpa")
    shared_stack.manage("createtenant", "rival", "--owner", "bob", "--password", "bob-password-1", "--accept-dpa",
                        "--region", "us")  # fmt: skip
    return shared_stack


@pytest.fixture(scope="module")
def alice_task(stack) -> str:
    """A finished task of alice's tenant, made through the API."""
    key = stack.manage("createapikey", "--tenant", "acme").strip().splitlines()[-1]
    client = httpx.Client(base_url=stack.base, headers={"X-API-Key": key}, timeout=30)
    with open(LONG_REFERENCE, "rb") as fh:
        voice = client.post("/api/v1/speakers", data={"name": "api voice", "language": "en"},
                            files={"audio": ("v.flac", fh, "audio/flac")}).json()["id"]  # fmt: skip
    deadline = time.monotonic() + 120
    while client.get(f"/api/v1/speakers/{voice}").json()["status"] == "PROCESSING":
        assert time.monotonic() < deadline
        time.sleep(0.5)
    return client.post("/api/v1/tasks", json={"text": "Hello.", "speaker_id": voice, "language": "en"}).json()["id"]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage",
                  "--autoplay-policy=no-user-gesture-required"],
        )
        yield browser
        browser.close()


def sign_in(browser, stack, username: str, password: str, **context_args):
    context = browser.new_context(**context_args)
    page = context.new_page()
    page.goto(f"{stack.base}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{stack.base}/synthesize/")
    return page


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_a_person_uploads_a_voice_synthesizes_and_plays_it(browser, stack):
    page = sign_in(browser, stack, "alice", "alice-password-1", viewport={"width": 1280, "height": 800})

    page.goto(f"{stack.base}/voices/")
    shot(page, "voices-empty")
    # A bad upload is explained in words next to the field it concerns.
    page.get_by_role("button", name="Upload voice").click()
    assert page.locator("#voice-name-error").inner_text() == "Give the voice a name."
    page.get_by_label("Voice name").fill("Too short")
    page.get_by_label("Reference audio").set_input_files(str(SHORT_REFERENCE))
    page.get_by_role("button", name="Upload voice").click()
    page.locator("#voice-audio-error").get_by_text("at least 3 s", exact=False).wait_for(timeout=10_000)
    shot(page, "voices-error")

    page.get_by_label("Voice name").fill("Narrator")
    page.get_by_label("Reference audio").set_input_files(str(LONG_REFERENCE))
    page.get_by_label("Reference text").fill("A LibriSpeech reading.")
    page.get_by_label("Language").select_option("en")
    page.get_by_role("button", name="Upload voice").click()
    page.locator("#voice-list").get_by_text("READY", exact=True).wait_for(timeout=120_000)
    shot(page, "voices")

    page.goto(f"{stack.base}/synthesize/")
    page.get_by_label("Text").fill(PARAGRAPH)
    page.get_by_label("Voice", exact=True).select_option(label="Narrator")
    # Record every value the bar takes, and mark the page so a reload would show.
    page.evaluate("""() => {
        window.__noReload = true;
        window.__progress = [];
        const bar = document.querySelector('[role="progressbar"]');
        new MutationObserver(() => window.__progress.push(Number(bar.getAttribute('aria-valuenow'))))
            .observe(bar, {attributes: true, attributeFilter: ['aria-valuenow']});
        const audio = document.querySelector('audio');
        audio.addEventListener('timeupdate', () => {
            if (audio.currentTime > 0 && window.__heard === undefined)
                window.__heard = {progress: Number(bar.getAttribute('aria-valuenow')), src: audio.src};
        });
    }""")
    page.get_by_role("button", name="Synthesize").click()
    page.wait_for_function(
        "document.querySelector('[role=\"progressbar\"]').getAttribute('aria-valuenow') === '100'", timeout=120_000
    )
    page.wait_for_function("document.querySelector('audio') && document.querySelector('audio').duration > 0",
                           timeout=30_000)  # fmt: skip
    progress = page.evaluate("window.__progress")
    assert page.evaluate("window.__noReload") is True
    assert progress[-1] == 100
    assert any(0 < value < 100 for value in progress), progress  # it moved, not jumped
    assert progress == sorted(progress)
    assert page.locator("audio").count() == 1
    assert page.evaluate("document.querySelector('audio').duration") > 5
    assert page.get_by_text("Similarity", exact=False).first.is_visible()
    # The score says what it means ("0.71 — a similar voice (two recordings of one person score …")
    similarity = page.locator("#task-similarity").inner_text()
    assert any(f" — {words} (" in similarity for words in ("the same speaker", "likely the same speaker",
                                                           "a similar voice", "a different-sounding voice")), similarity
    # It played from the task's stream before the task was done.
    page.wait_for_function("window.__heard !== undefined", timeout=30_000)
    heard = page.evaluate("window.__heard")
    assert "/stream" in heard["src"]
    assert heard["progress"] < 100, heard
    # The text follows along: the word under the play head is the one highlighted.
    page.locator("#task-words .word").first.wait_for(timeout=10_000)
    assert page.locator("#task-words .word").count() == len(PARAGRAPH.split())
    word, highlighted = page.evaluate("""async () => {
        const audio = document.querySelector('audio');
        audio.pause();  // the stored file takes over from the stream
        await new Promise((done) => { const wait = () => audio.src.includes('/audio') && audio.readyState > 0
            ? done() : setTimeout(wait, 50); wait(); });
        const id = audio.src.split('/tasks/')[1].split('/')[0];
        const words = (await (await fetch(`/api/v1/tasks/${id}/timestamps`)).json()).words;
        const word = words[Math.floor(words.length / 2)];
        audio.currentTime = (word.start + word.end) / 2;
        await new Promise((done) => audio.addEventListener('seeked', done, {once: true}));
        return [word.word, document.querySelector('#task-words .speaking')?.textContent];
    }""")
    assert highlighted == word
    shot(page, "synthesize")
    download = page.get_by_role("link", name="Download")
    assert "download=1" in download.get_attribute("href")

    page.goto(f"{stack.base}/history/")
    page.locator("#task-list").get_by_text("DONE", exact=True).first.wait_for(timeout=10_000)
    shot(page, "history")
    page.goto(f"{stack.base}/keys/")
    page.get_by_label("Key name").fill("laptop")
    page.get_by_role("button", name="Create key").click()
    page.get_by_text("sk_live_", exact=False).first.wait_for(timeout=10_000)
    shot(page, "keys")

    phone = sign_in(browser, stack, "alice", "alice-password-1", viewport={"width": 390, "height": 844},
                    is_mobile=True, has_touch=True)  # fmt: skip
    for name in ("voices", "synthesize", "history", "keys"):
        phone.goto(f"{stack.base}/{name}/")
        phone.wait_for_load_state("networkidle")
        overflowing = phone.evaluate("""() => [...document.querySelectorAll('body *')]
            .filter((e) => e.getBoundingClientRect().right > 391)
            .map((e) => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))""")
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390 + 1, (name, overflowing)
        shot(phone, f"{name}-phone")


def test_another_tenants_session_cannot_open_the_task_socket(browser, stack, alice_task):
    task_id = alice_task
    alice = sign_in(browser, stack, "alice", "alice-password-1")
    own = alice.evaluate(OPEN_SOCKET, task_id)
    assert own["messages"] == 1  # the task's state, sent on connect

    bob = sign_in(browser, stack, "bob", "bob-password-1")
    foreign = bob.evaluate(OPEN_SOCKET, task_id)
    assert foreign["code"] == 4403  # refused by policy, through Caddy and uvicorn
    assert foreign["messages"] == 0  # nothing about the task
    status = bob.evaluate(f"fetch('/api/v1/tasks/{task_id}').then(r => r.status)")
    assert status == 404


def test_signing_out_ends_the_session(browser, stack):
    page = sign_in(browser, stack, "alice", "alice-password-1")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/accounts/login/**")
    page.goto(f"{stack.base}/voices/")
    assert "/accounts/login/" in page.url


def test_the_console_renders_for_an_operator_and_refuses_a_tenant_user(browser, stack, alice_task):
    stack.manage("shell", "-c", "from django.contrib.auth.models import User; "
                 "User.objects.create_superuser('operator', 'ops@example.com', 'operator-password-1')")  # fmt: skip
    page = browser.new_context().new_page()
    page.goto(f"{stack.base}/admin/login/")
    page.get_by_label("Username").fill("operator")
    page.get_by_label("Password").fill("operator-password-1")
    page.get_by_role("button", name="Log in").click()
    console = {
        "/admin/": "Site administration",
        "/admin/tenants/tenant/": "Select tenant to change",
        "/admin/tenants/auditevent/": "audit event",
        "/admin/operations/": "Operations",
    }
    for path, heading in console.items():
        page.goto(f"{stack.base}{path}")
        assert heading.lower() in page.content().lower(), path
        shot(page, "console" + path.replace("/", "-").rstrip("-"))
    assert page.get_by_text("Queue backlog", exact=False).is_visible()

    page.goto(f"{stack.base}/admin/tenants/tenant/")
    assert page.get_by_role("row", name="rival").get_by_text("United States").is_visible()
    page.get_by_role("link", name="acme").click()
    page.wait_for_url("**/change/")
    chart = page.get_by_role("img", name="Characters synthesized per day")
    chart.wait_for()
    heights = page.locator("rect.usage-bar").evaluate_all("(bars) => bars.map((bar) => bar.getBBox().height)")
    assert len(heights) == 30
    assert heights[-1] > 0  # alice's task of today
    assert page.get_by_text("European Union").is_visible()  # the region, read-only
    shot(page, "console-tenant")

    tenant_user = sign_in(browser, stack, "alice", "alice-password-1")
    tenant_user.goto(f"{stack.base}/admin/operations/")
    assert "/admin/login/" in tenant_user.url  # an owner of a tenant is not an operator
    assert "Operations" not in tenant_user.locator("h1").all_inner_texts()


OPEN_SOCKET = """(taskId) => new Promise((resolve) => {
    const ws = new WebSocket(`ws://${location.host}/ws/tasks/${taskId}/`);
    let opened = false, messages = 0;
    ws.onopen = () => { opened = true; };
    ws.onmessage = () => { messages += 1; ws.close(1000); };
    ws.onclose = (event) => resolve({opened, code: event.code, messages});
    setTimeout(() => resolve({opened, timeout: true, messages}), 10000);
})"""


def test_an_owner_files_an_access_request_and_downloads_the_export(browser, stack, alice_task):
    import io
    import zipfile

    page = sign_in(browser, stack, "alice", "alice-password-1")
    page.get_by_role("link", name="Privacy").click()
    page.get_by_label("Request", exact=True).select_option("access")
    page.get_by_label("Who it is about").fill("The speaker of the API voice")
    page.get_by_label("api voice").check()
    page.get_by_role("button", name="File request").click()
    link = page.get_by_role("link", name="Download export")
    link.wait_for(timeout=60_000)  # the job runs on the worker; the page polls until it is done
    assert page.get_by_text("DONE").first.is_visible()
    shot(page, "privacy")
    export = page.request.get(link.get_attribute("href"))
    assert export.status == 200
    names = zipfile.ZipFile(io.BytesIO(export.body())).namelist()
    assert "subject.json" in names
    assert any(name.startswith("voices/") for name in names), names
