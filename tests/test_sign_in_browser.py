"""Sign-in for real, in headless Chromium: Streamlit's own st.login against an OpenID Connect provider made with
Authlib (tests/oidc_provider.py) on a loopback port, configured through a generated secrets.toml as Streamlit
documents it. One server requires sign-in (POTION_REQUIRE_SIGN_IN=1) and names its editors (POTION_EDITORS): signed
out, a browser sees only the sign-in button; an editor signs in, uploads and signs out; a viewer signs in and is
offered no way to write. Each test is a fresh browser context, so a fresh set of cookies."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import free_port, serve
from tests.test_browser import ARTIFACTS, CHROMIUM, WAIT_MS, settle

pytestmark = pytest.mark.browser
sync_api = pytest.importorskip("playwright.sync_api")
from tests.oidc_provider import running_provider  # noqa: E402 - after the skip: it needs Authlib, as st.login does

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = "Team notes"
EDITORS = "alice@x.org,@team.example"
EDITOR, VIEWER = "carol@team.example", "bob@y.org"  # carol by her domain, bob named nowhere


@pytest.fixture(scope="module")
def provider_and_app(tmp_path_factory: pytest.TempPathFactory):
    """The provider, then the app pointing at it, on a database that already holds one library."""
    data = tmp_path_factory.mktemp("sign-in")
    port = free_port()
    app_url = f"http://localhost:{port}"  # the host of redirect_uri: the OAuth state cookie must come back to it
    client_id, client_secret = "potion-search", secrets.token_urlsafe(24)
    with running_provider(client_id, client_secret, f"{app_url}/oauth2callback") as provider:
        secrets_file = data / "secrets.toml"
        secrets_file.write_text(
            "[auth]\n"
            f'redirect_uri = "{app_url}/oauth2callback"\n'
            f'cookie_secret = "{secrets.token_urlsafe(32)}"\n'
            f'client_id = "{client_id}"\n'
            f'client_secret = "{client_secret}"\n'
            f'server_metadata_url = "{provider.issuer}/.well-known/openid-configuration"\n',
            encoding="utf-8",
        )
        env = {
            **os.environ,
            "POTION_DB_PATH": str(data / "signin.db"),
            "HF_HUB_CACHE": str(data / "hf"),
            "HF_HUB_OFFLINE": "1",
            "POTION_EDITORS": EDITORS,
            "POTION_REQUIRE_SIGN_IN": "1",
        }
        # Something a signed-out visitor must not see. Made by the CLI, whose engine exits with it: a Lite database
        # opens in one process at a time.
        made = subprocess.run(
            [sys.executable, "-m", "core", "create-library", LIBRARY], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert made.returncode == 0, made.stderr
        env.pop("MILVUS_URI", None)
        command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", port]
        command += ["--server.headless", "true", "--secrets.files", str(secrets_file)]
        with serve(command, ready_text="Local URL", cwd=ROOT, env=env):
            yield provider, app_url


@pytest.fixture(scope="module")
def browser(provider_and_app):
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    """A page in a browser context of its own: no cookie of another test's sign-in."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(WAIT_MS)
    yield pg
    context.close()


def sign_in_button(pg):
    return pg.get_by_role("button", name=re.compile("Sign in"))


def only_sign_in_shown(pg) -> None:
    """The sign-in view and nothing else: no sidebar, no page, no library name, one button."""
    sign_in_button(pg).wait_for()
    settle(pg)
    assert pg.locator("[data-testid=stSidebar]").count() == 0
    assert pg.locator("[data-testid=stMain] button").count() == 1
    text = pg.locator("[data-testid=stMain]").inner_text()
    assert "Potion Search" in text and "Sign in to search" in text and LIBRARY not in text
    assert LIBRARY not in pg.content()


def sign_in(pg, provider, app_url: str, email: str) -> None:
    """Click Sign in, type the email on the provider's login page, and come back signed in."""
    sign_in_button(pg).click()
    pg.wait_for_url(f"{provider.issuer}/authorize?**")  # st.login sent the browser to the provider
    pg.get_by_label("Email").fill(email)
    pg.get_by_role("button", name="Continue").click()
    pg.wait_for_url(f"{app_url}/**")  # via /oauth2callback, where Streamlit exchanged the code for the id_token
    sidebar = pg.locator("[data-testid=stSidebar]")
    sync_api.expect(sidebar.get_by_text(f"Signed in as {email}")).to_be_visible(timeout=WAIT_MS)
    settle(pg)


def open_library_page(pg) -> None:
    pg.locator("[data-testid=stSidebarNav]").get_by_text("Library", exact=True).click()
    pg.wait_for_url("**/library")
    settle(pg)
    sync_api.expect(pg.locator("[data-testid=stMain] h1").first).to_contain_text(LIBRARY)


def test_signed_out_with_sign_in_required_only_the_sign_in_button_shows(page, provider_and_app):
    _, app_url = provider_and_app
    page.goto(app_url)
    only_sign_in_shown(page)
    page.screenshot(path=ARTIFACTS / "sign-in-01-required.png", full_page=True)
    page.goto(f"{app_url}/library")  # a deep link shows no more
    only_sign_in_shown(page)


def test_an_editor_signs_in_uploads_and_signs_out(page, provider_and_app, tmp_path):
    provider, app_url = provider_and_app
    page.goto(app_url)
    sign_in(page, provider, app_url, EDITOR)
    assert provider.signed_in[-1] == EDITOR
    sidebar = page.locator("[data-testid=stSidebar]")
    assert "POTION_EDITORS" not in sidebar.inner_text()  # no read-only line for an editor
    page.screenshot(path=ARTIFACTS / "sign-in-02-editor.png", full_page=True)

    open_library_page(page)
    note = tmp_path / "turing.md"
    note.write_text("# Alan Turing\n\nAlan Turing was born in Maida Vale, London.", encoding="utf-8")
    page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(str(note))
    page.get_by_role("button", name="Index 1 file(s)").click()
    page.get_by_text(re.compile(r"Indexed in [0-9.]+ s")).wait_for()
    settle(page)
    assert re.search(r"1 indexed, 0 already present, 0 failed", page.locator("[data-testid=stMain]").inner_text())
    page.screenshot(path=ARTIFACTS / "sign-in-03-editor-uploaded.png", full_page=True)

    sidebar.get_by_role("button", name=re.compile("Sign out")).click()
    only_sign_in_shown(page)  # signed out, and sign-in is required: back to the button alone


def test_a_viewer_signs_in_and_is_offered_no_way_to_write(page, provider_and_app):
    provider, app_url = provider_and_app
    page.goto(app_url)
    sign_in(page, provider, app_url, VIEWER)
    sidebar = page.locator("[data-testid=stSidebar]")
    refusal = f"only the editors POTION_EDITORS names may change anything here, and {VIEWER} is not one of them."
    sync_api.expect(sidebar.get_by_text(f"New libraries: off, as {refusal}")).to_be_visible()
    assert sidebar.get_by_label("Name").count() == 0  # no New library form

    open_library_page(page)
    main = page.locator("[data-testid=stMain]")
    sync_api.expect(main.get_by_text(f"Uploading and indexing: off, as {refusal}")).to_be_visible()
    assert page.locator("[data-testid=stFileUploaderDropzoneInput]").count() == 0
    assert main.get_by_role("button", name=re.compile(r"^Index ")).count() == 0
    assert main.get_by_text("Drop this library").count() == 0
    page.screenshot(path=ARTIFACTS / "sign-in-04-viewer.png", full_page=True)
