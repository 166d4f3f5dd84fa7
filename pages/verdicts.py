"""How the pages (Search, Query sets) name and mark a verdict, and the keys that give one (not a page itself)."""

from __future__ import annotations

from core.evaluate.judgments import NOT_RELEVANT, RELEVANT

VERDICTS = {RELEVANT: ("Relevant", ":material/thumb_up:"), NOT_RELEVANT: ("Not relevant", ":material/thumb_down:")}
# Keyboard shortcuts of the judging panel (st.button's `shortcut`, Streamlit 1.67), as Quepid's rating view rates a
# document with one key. Digits, as the grades they give: C and R are Streamlit's own and cannot be used.
SHORTCUTS = {RELEVANT: "1", NOT_RELEVANT: "0"}
SKIP_SHORTCUT = "S"


def verdict_text(verdict: int | None) -> str:
    if verdict is None:
        return "unjudged"
    return "relevant" if verdict >= RELEVANT else "not relevant"
