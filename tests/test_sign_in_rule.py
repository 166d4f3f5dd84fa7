"""Who may write once sign-in is on (core.access): POTION_EDITORS names emails and domains, everyone else reads, and
the refusal happens in core whichever edge asked. Fast: no Streamlit, no store."""

from __future__ import annotations

import pytest

from core.access import Identity, check_sign_in, is_editor, must_sign_in, require_write, session_actor
from core.config import load_settings
from core.errors import ReadOnlyError, SignInUnavailableError

EDITORS = ("alice@x.org", "@example.com")


@pytest.fixture
def editors(monkeypatch):
    monkeypatch.setenv("POTION_EDITORS", " Alice@X.org ,@Example.com")
    return load_settings()


def test_the_setting_is_read_as_lowercased_entries_split_by_commas_semicolons_or_spaces(monkeypatch):
    monkeypatch.setenv("POTION_EDITORS", " Alice@X.org, @Example.com;bob@y.org  carol.example.net ,, ")
    assert load_settings().editors == ("alice@x.org", "@example.com", "bob@y.org", "carol.example.net")
    monkeypatch.setenv("POTION_EDITORS", "")
    assert load_settings().editors == ()
    monkeypatch.delenv("POTION_EDITORS")
    assert load_settings().editors == () and not load_settings().require_sign_in
    monkeypatch.setenv("POTION_REQUIRE_SIGN_IN", "1")
    assert load_settings().require_sign_in


@pytest.mark.parametrize(
    ("email", "named"),
    [
        ("alice@x.org", True),  # the address itself
        ("ALICE@X.ORG", True),  # case does not matter
        (" alice@x.org ", True),
        ("bob@x.org", False),  # an address names one person, not their domain
        ("anyone@example.com", True),  # @domain names everyone there
        ("Anyone@EXAMPLE.com", True),
        ("eve@sub.example.com", False),  # exactly that domain, not its subdomains
        ("eve@notexample.com", False),  # nor a domain that merely ends the same way
        ("eve@example.com.evil.org", False),
        ("example.com@evil.org", False),  # the domain is what follows the last @
        ("alice@x.org@evil.org", False),
        ("", False),
        (None, False),
        ("example.com", False),  # no local part: no address at all
        ("@example.com", False),
    ],
)
def test_an_editor_is_named_by_address_or_by_domain_ignoring_case(email, named):
    assert is_editor(email, EDITORS) is named


def test_a_domain_entry_may_be_written_without_its_at():
    assert is_editor("zoe@example.net", ["example.net"])
    assert not is_editor("zoe@example.net", [])


def test_with_editors_named_only_they_write_and_everyone_else_is_refused_in_core_in_one_sentence(editors):
    alice = session_actor(editors, "Alice@x.org")
    assert alice.may_write and alice.identity == Identity.SIGNED_IN and alice.name == "Alice@x.org"
    assert require_write(alice, "drop library 'Papers'") is alice
    assert session_actor(editors, "dora@example.com", verified=True).may_write

    bob = session_actor(editors, "bob@y.org")
    assert not bob.may_write and bob.label == "bob@y.org (signed in)"
    with pytest.raises(ReadOnlyError) as refused:
        require_write(bob, "drop library 'Papers'")
    assert str(refused.value) == (
        "Cannot drop library 'Papers': only the editors POTION_EDITORS names may change anything here, "
        "and bob@y.org is not one of them."
    )

    anonymous = session_actor(editors)
    assert anonymous.identity == Identity.ANONYMOUS and not anonymous.may_write
    with pytest.raises(ReadOnlyError, match=r"^Cannot upload files: .*POTION_EDITORS.*: sign in as one of them\.$"):
        require_write(anonymous, "upload files")


def test_an_address_the_provider_has_not_verified_is_never_an_editor(editors):
    unverified = session_actor(editors, "mallory@example.com", verified=False)
    assert not unverified.may_write
    with pytest.raises(ReadOnlyError, match="has not verified mallory@example.com"):
        require_write(unverified, "upload files")


def test_without_editors_named_sign_in_restricts_nobody_but_names_the_actor(monkeypatch):
    monkeypatch.delenv("POTION_EDITORS", raising=False)
    settings = load_settings()
    assert session_actor(settings, "bob@y.org").may_write
    assert session_actor(settings, "bob@y.org").label == "bob@y.org (signed in)"  # what the audit log records
    assert session_actor(settings).may_write  # no sign-in at all: as before sign-in existed


def test_read_only_wins_over_being_an_editor(editors, monkeypatch):
    monkeypatch.setenv("POTION_READ_ONLY", "1")
    settings = load_settings()
    alice = session_actor(settings, "alice@x.org")
    assert not alice.may_write
    with pytest.raises(ReadOnlyError, match="POTION_READ_ONLY is set"):
        require_write(alice, "upload files")
    assert "POTION_READ_ONLY" in session_actor(settings).why_read_only


def test_requiring_sign_in_shuts_out_only_sessions_that_have_not_signed_in(monkeypatch):
    monkeypatch.setenv("POTION_REQUIRE_SIGN_IN", "1")
    settings = load_settings()
    assert must_sign_in(settings, session_actor(settings))
    assert not must_sign_in(settings, session_actor(settings, "bob@y.org"))  # a viewer sees, and reads
    monkeypatch.setenv("POTION_REQUIRE_SIGN_IN", "0")
    assert not must_sign_in(load_settings(), session_actor(load_settings()))


def test_a_setting_that_relies_on_sign_in_without_a_provider_says_so(editors, monkeypatch):
    check_sign_in(editors, available=True)
    with pytest.raises(SignInUnavailableError, match=r"^POTION_EDITORS is set but no identity provider"):
        check_sign_in(editors, available=False)
    monkeypatch.setenv("POTION_REQUIRE_SIGN_IN", "1")
    with pytest.raises(SignInUnavailableError, match=r"^POTION_REQUIRE_SIGN_IN is set .*/secrets\.toml"):
        check_sign_in(load_settings(), available=False)
    monkeypatch.delenv("POTION_EDITORS")
    monkeypatch.delenv("POTION_REQUIRE_SIGN_IN")
    check_sign_in(load_settings(), available=False)  # nothing relies on sign-in: nothing to say
