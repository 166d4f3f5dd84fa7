"""Who acts, and whether they may change anything: the edge builds the Actor (a page from its browser session, the
CLI from the OS user), core checks it before it writes and records it in the audit log.

Cross-cutting, like config and errors: ingest, evaluation and adapting check it where they write, below the
service layer, so no path around a page or a command skips the check.

POTION_READ_ONLY makes every actor a reader. Sign-in (st.login) changes only how the page edge builds its actor (a
signed-in email, and whether POTION_EDITORS names it, `is_editor`); what core checks stays `actor.may_write`.

The editor rule, in full:
- POTION_EDITORS unset or empty: sign-in restricts nobody. Signed in or not, a session writes (unless
  POTION_READ_ONLY), and a signed-in one is recorded in the audit log by its email.
- POTION_EDITORS set: only a signed-in session whose email it names writes. An entry with a local part
  ("alice@example.org") names that address; "@example.org" (or "example.org") names every address at exactly that
  domain, not its subdomains. Comparison ignores case. Everyone else reads, anonymous sessions included, and an
  address the identity provider says it has not verified (email_verified false) is never an editor.
- POTION_READ_ONLY wins over everything: nobody writes."""

from __future__ import annotations

import getpass
import os
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from core.config import Settings, settings_or_environment
from core.errors import ReadOnlyError, SignInUnavailableError

# The end of every refusal in a read-only deployment: what is off, the setting, and what still works.
READ_ONLY_REASON = (
    "this Potion Search is read-only (POTION_READ_ONLY is set), so only searching, comparing, maps, costs and "
    "evaluation of existing indexes work"
)
EDITORS_ONLY = "only the editors POTION_EDITORS names may change anything here"


class Identity(StrEnum):
    """How the actor's name was learnt."""

    SIGNED_IN = "signed in"  # an email from the identity provider (st.login)
    OS_USER = "OS user"  # the account running the CLI or a script
    ANONYMOUS = "anonymous"  # a browser session with no sign-in


@dataclass(frozen=True)
class Actor:
    name: str
    identity: Identity
    may_write: bool = True
    why_read_only: str = ""  # the refusal's reason when may_write is False, ending "Cannot ACTION: …"

    @property
    def label(self) -> str:
        """How the audit log and the sidebar name the actor: "alice@example.org (signed in)"."""
        return f"{self.name} ({self.identity})"


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user with no passwd entry and no LOGNAME/USER
        return f"uid {os.getuid()}"


def _reader(settings: Settings) -> tuple[bool, str]:
    return (False, READ_ONLY_REASON) if settings.read_only else (True, "")


def os_actor(settings: Settings | None = None) -> Actor:
    """Whoever runs this process (the CLI, a script), writing unless POTION_READ_ONLY is set."""
    may, why = _reader(settings_or_environment(settings))
    return Actor(os_user(), Identity.OS_USER, may, why)


def is_editor(email: str | None, editors: Sequence[str]) -> bool:
    """Whether POTION_EDITORS (`editors`, as core.config reads it) names `email`, by its address or its domain."""
    address = (email or "").strip().lower()
    local, at, domain = address.rpartition("@")  # the last "@": what follows it is where the mail is delivered
    if not (local and at and domain):
        return False
    # An entry with a local part names one address; "@domain" or "domain" names exactly that domain.
    return any(entry in (address, domain) for entry in (e.strip().lower().lstrip("@") for e in editors if e.strip()))


def _signed_in_rights(settings: Settings, email: str, verified: bool | None) -> tuple[bool, str]:
    if settings.read_only or not settings.editors:
        return _reader(settings)
    if verified is False:  # a provider that lets users type any address says so: such an address proves nothing
        return False, f"{EDITORS_ONLY}, and the identity provider has not verified {email}"
    if is_editor(email, settings.editors):
        return True, ""
    return False, f"{EDITORS_ONLY}, and {email} is not one of them"


def session_actor(settings: Settings, email: str | None = None, verified: bool | None = None) -> Actor:
    """A browser session: its signed-in email when the identity provider gave one (`verified`: its email_verified
    claim, None when it sent none), else anonymous. Who of them writes follows the editor rule (module docstring)."""
    if email:
        may, why = _signed_in_rights(settings, email, verified)
        return Actor(email, Identity.SIGNED_IN, may, why)
    if settings.editors and not settings.read_only:
        return Actor("anonymous", Identity.ANONYMOUS, False, f"{EDITORS_ONLY}: sign in as one of them")
    may, why = _reader(settings)
    return Actor("anonymous", Identity.ANONYMOUS, may, why)


def must_sign_in(settings: Settings, actor: Actor) -> bool:
    """POTION_REQUIRE_SIGN_IN: a session that has not signed in sees nothing but a way to sign in."""
    return settings.require_sign_in and actor.identity != Identity.SIGNED_IN


def check_sign_in(settings: Settings, available: bool) -> None:
    """SignInUnavailableError when a setting relies on sign-in but the app has none configured (`available`: the
    edge found an identity provider, for Streamlit an [auth] section in .streamlit/secrets.toml)."""
    if available:
        return
    fix = "add an [auth] section to .streamlit/secrets.toml (README: Sign-in) or unset"
    if settings.require_sign_in:
        raise SignInUnavailableError(
            f"POTION_REQUIRE_SIGN_IN is set but no identity provider is configured, so nobody can sign in: {fix} it."
        )
    if settings.editors and not settings.read_only:
        raise SignInUnavailableError(
            f"POTION_EDITORS is set but no identity provider is configured, so nobody can sign in and this session "
            f"may only read: {fix} POTION_EDITORS."
        )


def acting(actor: Actor | None, settings: Settings | None = None) -> Actor:
    """The actor given, or, for a caller that names none (a script, a test), whoever runs this process."""
    return actor if actor is not None else os_actor(settings)


def may_write(actor: Actor | None, settings: Settings | None = None) -> bool:
    return acting(actor, settings).may_write


def require_write(actor: Actor | None, action: str, settings: Settings | None = None) -> Actor:
    """The actor, if they may write; else ReadOnlyError in one sentence naming `action` ("drop library 'X'")."""
    found = acting(actor, settings)
    if not found.may_write:
        raise ReadOnlyError(f"Cannot {action}: {found.why_read_only or 'you may only read here'}.")
    return found
