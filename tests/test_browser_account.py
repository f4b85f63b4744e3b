"""The account side of the browser app, in real Chromium against the whole stack, at desktop
and phone widths: the DPA banner, erasing the workspace, API keys after a revoke, and a
navigation that fits a phone. Screenshots land in ``test-artifacts/screenshots/``."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.conftest import LONG_REFERENCE
from tests.test_browser import CHROMIUM, browser, shot, sign_in  # noqa: F401 - browser: its Chromium fixture

pytestmark = [
    pytest.mark.stack,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed (.ci/run installs it)"),
]

WIDTHS = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}
APP_PAGES = ("voices", "synthesize", "history", "keys", "privacy", "dpa")


@pytest.fixture(scope="module")
def chromium(request):
    return request.getfixturevalue("browser")  # tests.test_browser's, launched once for this module


@pytest.fixture(scope="module")
def stack(shared_stack):
    return shared_stack  # the run's (tests/conftest.py): every test here makes tenants of its own


def new_tenant(stack, slug: str, *, accept_dpa: bool = True, members: tuple[str, ...] = ()) -> tuple[str, str]:
    """A tenant with its owner (and members), all with password ``<name>-password-1``."""
    owner = f"{slug}-owner"
    stack.manage("createtenant", slug, "--owner", owner, "--password", f"{owner}-password-1",
                 *(["--accept-dpa"] if accept_dpa else []))  # fmt: skip
    for member in members:
        stack.manage("shell", "-c", "from tenants.models import Tenant; from tenants.services import member_create; "
                     f"member_create(tenant=Tenant.objects.get(slug={slug!r}), username={member!r}, "
                     f"password={member + '-password-1'!r}, role='member')")  # fmt: skip
    return owner, f"{owner}-password-1"


def assert_fits(page, width: int, name: str) -> None:
    """Nothing wider than the screen, and every main navigation link whole, on screen and on top."""
    page.wait_for_load_state("networkidle")
    overflowing = page.evaluate(f"""() => [...document.querySelectorAll('body *')]
        .filter((e) => e.getBoundingClientRect().right > {width} + 1)
        .map((e) => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))""")
    assert page.evaluate("document.documentElement.scrollWidth") <= width + 1, (name, overflowing)
    links = page.evaluate("""() => {
        const nav = document.querySelector('nav[aria-label="Main"]');
        return [...nav.querySelectorAll('a')].map((a) => {
            const r = a.getBoundingClientRect();
            const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
            return {text: a.textContent.trim(), left: r.left, right: r.right, width: r.width,
                    whole: a.scrollWidth <= a.clientWidth + 1, onTop: a.contains(hit),
                    navScrolls: nav.scrollWidth > nav.clientWidth + 1};
        });
    }""")
    assert links, name
    for link in links:
        assert not link["navScrolls"], (name, link)
        assert link["left"] >= 0, (name, link)
        assert link["right"] <= width + 0.5, (name, link)
        assert link["width"] > 20, (name, link)
        assert link["whole"], (name, link)
        assert link["onTop"], (name, link)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_dpa_banner_leads_an_owner_to_the_agreement_and_uploads_wait_for_it(chromium, stack, width):
    owner, password = new_tenant(stack, f"fresh-{width}", accept_dpa=False)
    page = sign_in(chromium, stack, owner, password, **WIDTHS[width])
    size = WIDTHS[width]["viewport"]["width"]
    for name in ("synthesize", "voices", "history", "keys", "privacy"):
        page.goto(f"{stack.base}/{name}/")
        banner = page.locator("#dpa-banner")
        assert banner.is_visible(), name
        assert banner.get_by_role("link", name="Read and accept it").get_attribute("href") == "/dpa/"
        assert_fits(page, size, f"{name} with the banner")
    shot(page, f"dpa-banner-{width}")

    # Voices are biometric data: an upload waits for the agreement too, and says where it is.
    page.goto(f"{stack.base}/voices/")
    page.get_by_label("Voice name").fill("Too early")
    page.get_by_label("Reference audio").set_input_files(str(LONG_REFERENCE))
    page.get_by_role("button", name="Upload voice").click()
    alert = page.locator("#voice-form-error")
    alert.get_by_text("Data Processing Agreement", exact=False).wait_for(timeout=10_000)
    assert alert.get_by_role("link", name="Open the agreement").get_attribute("href") == "/dpa/"

    page.locator("#dpa-banner").get_by_role("link", name="Read and accept it").click()
    page.wait_for_url(f"{stack.base}/dpa/")
    agreement = page.locator("article.document")
    assert agreement.get_by_role("heading", name="1. Subject matter, duration, nature and purpose").is_visible()
    assert page.locator("pre").count() == 0
    assert "##" not in agreement.inner_text()
    assert_fits(page, size, "dpa")
    first = agreement.locator("p").first  # a document reflows: no hard line breaks, the width filled
    assert "\n" not in first.inner_text()
    assert first.bounding_box()["width"] > min(size * 0.7, 600)
    page.get_by_role("button", name="Accept the agreement").click()
    page.get_by_text("Accepted on", exact=False).wait_for()
    assert "p.m.." not in page.locator(".lead").inner_text()
    shot(page, f"dpa-accepted-{width}")

    page.goto(f"{stack.base}/voices/")
    assert page.locator("#dpa-banner").count() == 0
    page.get_by_role("link", name="Data Processing Agreement").click()  # the footer still leads there
    page.wait_for_url(f"{stack.base}/dpa/")


@pytest.mark.parametrize("width", WIDTHS)
def test_after_a_revoke_the_keys_page_shows_no_active_key_and_no_secret(chromium, stack, width):
    owner, password = new_tenant(stack, f"keys-{width}")
    page = sign_in(chromium, stack, owner, password, **WIDTHS[width])
    page.goto(f"{stack.base}/keys/")
    page.get_by_label("Key name").fill("laptop")
    page.get_by_role("button", name="Create key").click()
    secret = page.locator("#new-key-value")
    secret.get_by_text("sk_live_", exact=False).wait_for(timeout=10_000)
    page.wait_for_function("document.getElementById('key-count').textContent === '1 active'", timeout=10_000)
    key = secret.inner_text()
    assert httpx.get(f"{stack.base}/api/v1/speakers", headers={"X-API-Key": key}).status_code == 200

    # The key breaks only at the box's edge, never early at a "-": every line but the last is full
    # (as many characters as a line of a text with nowhere to break holds: the font is monospace).
    full = len(secret.evaluate(LINES_OF, "x" * 400)[0])
    hyphenated = ("sk_live_ab-cdefghijklm-n-opqrstu-vwxy-z0123456789-ABCDEFGHIJKLMNOP-QRS-TUV-WXYZ-abcdefgh",
                  "sk_live_-0123456789abcdef-g-hijklmnopqrstuvwxyz-ABCDE-FGHIJKLMNOPQRSTUVW-XYZ-0123456789-abc-d-e")
    for text in (key, *(text * 3 for text in hyphenated)):  # three times: several lines at desktop width too
        lines = secret.evaluate(LINES_OF, text)
        assert "".join(lines) == text
        assert all(len(line) == full for line in lines[:-1]), (full, lines)
    secret.evaluate("(code, key) => { code.textContent = key; }", key)
    shot(page, f"keys-new-{width}")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke laptop").click()
    page.locator("#key-list").get_by_text("revoked", exact=True).wait_for(timeout=10_000)
    page.wait_for_function("document.getElementById('key-count').textContent === '0 active'", timeout=10_000)
    assert not page.locator("#new-key").is_visible()
    assert not page.get_by_role("button", name="Copy").is_visible()
    assert key not in page.content()
    # Other web workers trust their copy of a key for API_KEY_CACHE_SECONDS (2 s) at most.
    page.wait_for_timeout(2500)
    assert httpx.get(f"{stack.base}/api/v1/speakers", headers={"X-API-Key": key}).status_code == 401
    shot(page, f"keys-revoked-{width}")


LINES_OF = """(code, text) => {
    code.textContent = text;
    const node = code.firstChild, range = document.createRange(), lines = [];
    let top = null;
    for (let i = 0; i < node.length; i++) {
        range.setStart(node, i);
        range.setEnd(node, i + 1);
        const y = Math.round(range.getBoundingClientRect().top);
        if (y !== top) { lines.push(''); top = y; }
        lines[lines.length - 1] += node.data[i];
    }
    return lines;
}"""


@pytest.mark.parametrize("width", WIDTHS)
def test_erasing_the_workspace_takes_its_typed_name_and_ends_signed_out(chromium, stack, width):
    slug = f"gone-{width}"
    member = f"{slug}-member"
    owner, password = new_tenant(stack, slug, members=(member,))
    page = sign_in(chromium, stack, owner, password, **WIDTHS[width])
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.get_by_role("link", name="Privacy").click()
    page.get_by_label("Request", exact=True).select_option("tenant_erasure")
    confirm = page.get_by_label("Type the workspace's name", exact=False)
    assert confirm.is_visible()
    assert not page.get_by_label("Who it is about").is_visible()
    erase = page.get_by_role("button", name="Erase this workspace")
    assert_fits(page, WIDTHS[width]["viewport"]["width"], "privacy, erasing")
    shot(page, f"erase-confirm-{width}")

    confirm.fill(slug.upper())  # not quite its name
    erase.click()
    assert page.locator("#erase-confirm-error").inner_text().startswith("Type the workspace's name")
    assert page.url == f"{stack.base}/privacy/"
    page.wait_for_timeout(500)
    assert httpx.post(f"{stack.base}/api/v1/auth/token", json={"username": member, "password": f"{member}-password-1"}
                      ).status_code == 200  # nothing was filed  # fmt: skip

    confirm.fill(slug)
    erase.click()
    page.wait_for_url(f"{stack.base}/erased/")
    assert page.get_by_role("heading", name="Workspace erased").is_visible()
    assert slug in page.locator("main").inner_text()
    assert page.get_by_role("link", name="Sign in with another account").is_visible()
    assert dialogs == []  # no native confirm()
    shot(page, f"erased-{width}")

    page.goto(f"{stack.base}/voices/")
    assert "/accounts/login/" in page.url  # signed out
    for username, secret in ((owner, password), (member, f"{member}-password-1")):
        token = httpx.post(f"{stack.base}/api/v1/auth/token", json={"username": username, "password": secret})
        assert token.status_code == 401, username
        page.goto(f"{stack.base}/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(secret)
        page.get_by_role("button", name="Sign in").click()
        page.locator("#login-error").wait_for()
        assert "/accounts/login/" in page.url


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_fits_the_screen_with_the_whole_navigation_in_reach(chromium, stack, width):
    owner, password = new_tenant(stack, f"nav-{width}")
    page = sign_in(chromium, stack, owner, password, **WIDTHS[width])
    size = WIDTHS[width]["viewport"]["width"]
    for name in APP_PAGES:
        page.goto(f"{stack.base}/{name}/")
        assert_fits(page, size, name)
        shot(page, f"fit-{name}-{width}")
    nav = page.get_by_role("navigation", name="Main")
    assert [t.strip() for t in nav.get_by_role("link").all_inner_texts()] == [
        "Voices", "Synthesize", "History", "API keys", "Privacy"]  # fmt: skip
    for label, path in (("Privacy", "/privacy/"), ("Voices", "/voices/"), ("API keys", "/keys/")):
        nav.get_by_role("link", name=label).click()
        page.wait_for_url(f"{stack.base}{path}")
        assert nav.get_by_role("link", name=label).get_attribute("aria-current") == "page"

    page.goto(f"{stack.base}/no-such-page/")
    assert page.get_by_role("heading", name="Page not found").is_visible()
    assert_fits(page, size, "404")
    shot(page, f"not-found-{width}")
    assert re.search(r"css/app\.css", page.content())
