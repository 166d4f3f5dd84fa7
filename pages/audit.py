"""Audit log: who dropped, deleted, rebuilt, imported or changed what, and when, newest first."""

from __future__ import annotations

import streamlit as st

from core.service.audit import counts_text, entries
from pages import shared

SHOWN = (50, 200, 1000)

store, _ = shared.begin(":material/history: Audit log", needs_library=False)
st.caption(
    "Every drop, document delete, rebuild, judgment import or edit, and change of a library's hybrid default, by "
    "anyone sharing this database: the app (the signed-in user, or anonymous) and the command line (the OS user). "
    "Times are UTC. `python -m core audit` prints the same log."
)
limit = st.selectbox("Newest", SHOWN, key="audit_limit", format_func=lambda n: f"{n} entries")
found = entries(store, limit)
if not found:
    st.info("Nothing recorded yet: no library was dropped or changed since the log began.")
    st.stop()
st.dataframe(
    [
        {
            "when (UTC)": shared.utc_text(e.at),
            "who": e.who,
            "how known": e.identity,
            "action": e.action,
            "library": e.library,
            "what": e.what,
            "counts": counts_text(e),
        }
        for e in found
    ],
    hide_index=True,
    width="stretch",
    key="audit_table",
)
