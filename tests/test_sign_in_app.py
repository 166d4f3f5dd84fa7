"""Sign-in in the app, driven with AppTest, whose `user` stands in for what st.login leaves in st.user (the real
login, against a real OIDC provider in Chromium, is tests/test_sign_in_browser.py): the sidebar names who is signed in
and offers a sign-out, an editor writes and is recorded by email, a viewer is shown no writing control, and with
sign-in required a signed-out session sees the sign-in button and nothing else."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from core.access import Identity
from tests.apptest_helpers import LIBRARY, by_label, labels, new_app, no_exception, open_page
from tests.conftest import BUNDLED_SMALL, index_texts

EDITOR, VIEWER = "alice@x.org", "bob@y.org"


def signed_in(email: str | None) -> AppTest:
    at = new_app()
    at.user = {"is_logged_in": True, "email": email} if email else {"is_logged_in": False}
    return at.run()


def sidebar_text(at: AppTest) -> str:
    return " ".join(c.value for c in at.sidebar.caption)


def test_an_editor_sees_who_is_signed_in_writes_and_is_recorded_by_email(app_store, tmp_path, monkeypatch):
    monkeypatch.setenv("POTION_EDITORS", f"{EDITOR.upper()},@example.com")
    index_texts(app_store, tmp_path / "docs", "Papers", BUNDLED_SMALL, {"a.txt": "Alan Turing was born in London."})
    at = signed_in(EDITOR)
    no_exception(at)
    assert f"Signed in as **{EDITOR}**" in sidebar_text(at)
    assert "Sign out" in labels(at.sidebar.button) and "Sign in" not in labels(at.sidebar.button)
    assert "POTION_EDITORS" not in sidebar_text(at) and "reads only" not in sidebar_text(at)
    open_page(at, LIBRARY)
    assert at.main.get("file_uploader")
    at.main.text_input(key="drop-confirm").input("Papers").run()
    by_label(at.main.button, "Drop library").click().run()
    no_exception(at)
    assert "Papers" not in app_store.catalog.names()
    [entry] = [e for e in app_store.audit.list() if e.library == "Papers"]
    assert (entry.who, entry.identity) == (EDITOR, Identity.SIGNED_IN)


def test_a_viewer_is_offered_no_writing_control_and_told_why_in_one_line(app_store, tmp_path, monkeypatch):
    monkeypatch.setenv("POTION_EDITORS", EDITOR)
    index_texts(app_store, tmp_path / "docs", "Papers", BUNDLED_SMALL, {"a.txt": "Alan Turing was born in London."})
    at = signed_in(VIEWER)
    no_exception(at)
    assert f"Signed in as **{VIEWER}** · reads only" in sidebar_text(at) and "Sign out" in labels(at.sidebar.button)
    assert "New libraries: off, as only the editors POTION_EDITORS names may change anything here" in sidebar_text(at)
    assert not any(t.key == "new_library_name" for t in at.sidebar.text_input)
    open_page(at, LIBRARY)
    assert not at.main.get("file_uploader") and "Drop library" not in labels(at.main.button)
    note = next(c.value for c in at.main.caption if "POTION_EDITORS" in c.value)
    assert note.endswith(f"and {VIEWER} is not one of them.") and note.count(". ") == 0


def test_signed_out_where_sign_in_is_optional_reads_with_a_sign_in_button(app_store, monkeypatch):
    monkeypatch.setenv("POTION_EDITORS", EDITOR)
    at = signed_in(None)
    no_exception(at)
    assert "Not signed in · reads only" in sidebar_text(at) and "Sign in" in labels(at.sidebar.button)
    assert "sign in as one of them" in sidebar_text(at)
    assert at.sidebar.selectbox  # the model and library pickers: reading needs no sign-in here


def test_with_sign_in_required_a_signed_out_session_sees_only_the_sign_in_button(app_store, tmp_path, monkeypatch):
    monkeypatch.setenv("POTION_REQUIRE_SIGN_IN", "1")
    index_texts(app_store, tmp_path / "docs", "Secret plans", BUNDLED_SMALL, {"a.txt": "Nothing to see."})
    at = signed_in(None)
    no_exception(at)
    assert labels(at.main.button) == ["Sign in"] and not at.sidebar.children
    shown = [e.value for e in [*at.main.title, *at.main.caption, *at.main.markdown, *at.main.text]]
    assert shown == ["Potion Search", "Sign in to search this Potion Search."]

    at = signed_in(VIEWER)  # once signed in, anyone reads (POTION_EDITORS unset: everyone writes)
    no_exception(at)
    assert at.sidebar.selectbox(key="library_choice").value == "Secret plans"


def test_sign_in_required_without_a_provider_says_so_instead_of_locking_everyone_out(app_store, monkeypatch):
    monkeypatch.setenv("POTION_REQUIRE_SIGN_IN", "1")
    at = new_app()
    at.user = {}  # no [auth] in secrets.toml: st.user has no is_logged_in
    at.run()
    no_exception(at)
    assert not at.main.button and "POTION_REQUIRE_SIGN_IN is set but no identity provider" in at.main.error[0].value
