"""Who acts, and whether they may change anything: the edge builds the Actor (a page from its browser session, the
CLI from the OS user), core checks it before it writes and records it in the audit log.

Cross-cutting, like config and errors: ingest, evaluation and adapting check it where they write, below the
service layer, so no path around a page or a command skips the check.

POTION_READ_ONLY makes every actor a reader. Sign-in (st.login) changes only how the page edge builds its actor (a
signed-in email, and whether a setting names it among the editors); what core checks stays `actor.may_write`."""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from enum import StrEnum

from core.config import Settings, settings_or_environment
from core.errors import ReadOnlyError

# The end of every refusal in a read-only deployment: what is off, the setting, and what still works.
READ_ONLY_REASON = (
    "this Potion Search is read-only (POTION_READ_ONLY is set), so only searching, comparing, maps, costs and "
    "evaluation of existing indexes work"
)


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


def session_actor(settings: Settings, email: str | None = None) -> Actor:
    """A browser session: its signed-in email when the identity provider gave one, else anonymous; writing
    unless POTION_READ_ONLY is set. Sign-in adds its own rule (editors by email or domain) here."""
    may, why = _reader(settings)
    if email:
        return Actor(email, Identity.SIGNED_IN, may, why)
    return Actor("anonymous", Identity.ANONYMOUS, may, why)


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
