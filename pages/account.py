"""Sign-in at the edge (not a page itself): the sidebar's account line and the sign-in view that stands in for every
page when POTION_REQUIRE_SIGN_IN shuts a signed-out session out. Who may write is core's rule (core.access); this
module only shows it and starts Streamlit's own st.login / st.logout (configured in .streamlit/secrets.toml)."""

from __future__ import annotations

import streamlit as st

from core.access import Identity, check_sign_in, must_sign_in
from core.errors import SignInUnavailableError
from pages import shared

SIGN_IN = "Sign in"
SIGN_OUT = "Sign out"


def sign_in_available() -> bool:
    """Whether an identity provider is configured: st.user has `is_logged_in` only when secrets.toml has [auth]."""
    return "is_logged_in" in st.user


def sign_in_problem() -> str | None:
    """One line when a setting relies on sign-in that is not configured (core says which), else None."""
    try:
        check_sign_in(shared.settings(), sign_in_available())
    except SignInUnavailableError as exc:
        return shared.inert(exc)
    return None


def shut_out() -> bool:
    """True when this session must sign in before it sees anything (POTION_REQUIRE_SIGN_IN and not signed in)."""
    return must_sign_in(shared.settings(), shared.actor())


def sign_in_view() -> None:
    """All a signed-out session sees where sign-in is required: the name of the app and the sign-in button."""
    st.title("Potion Search")
    if problem := sign_in_problem():
        st.error(problem)
        return
    st.caption("Sign in to search this Potion Search.")
    if st.button(SIGN_IN, type="primary", icon=":material/login:"):
        st.login()  # Streamlit redirects the browser to the identity provider and back to /oauth2callback


def sidebar_account() -> None:
    """Who this session is, with a way out (signed in) or in (signed out, where a provider is configured)."""
    if problem := sign_in_problem():
        st.error(problem)
        return
    if not sign_in_available():
        return  # no sign-in here: nothing to say, as before sign-in existed
    actor = shared.actor()
    # Why a reader may not write is said once, under Library ("New libraries: off, as …"), not twice here.
    reads_only = "" if actor.may_write else " · reads only"
    if actor.identity == Identity.SIGNED_IN:
        st.caption(f":material/account_circle: Signed in as **{shared.inert(actor.name)}**{reads_only}")
        if st.button(SIGN_OUT, icon=":material/logout:"):
            st.logout()  # clears the identity cookie and starts a new, signed-out session
    else:
        st.caption(f":material/no_accounts: Not signed in{reads_only}")
        if st.button(SIGN_IN, icon=":material/login:"):
            st.login()
