"""Potion Search: the frame. Navigation, the shared sidebar (model and library), session defaults."""

from __future__ import annotations

import streamlit as st

from core.embed.embedder import ModelSource
from core.embed.loading import (
    ModelListing,
    ModelVariant,
    is_available_offline,
    model_dim,
    origin_label,
    resolve_model,
    variant_dims,
    variant_name,
)
from core.errors import PotionError
from core.service.adapted import card_facts
from core.service.language import model_multilingual, multilingual_text
from core.service.libraries import create_library, library_choice
from core.sizes import format_bytes
from core.storage.analyzers import LANGUAGES, NONE
from pages import account, keys, shared

st.set_page_config(page_title="Potion Search", page_icon=":material/science:", layout="wide")

OTHER_HUB = "Other hub id…"
LOCAL_DIR = "Local directory…"


def _label(name: str, by_name: dict[str, ModelListing]) -> str:
    m = by_name.get(name)
    if m is None:
        return name
    return f"{m.name} · {m.dim or '?'}d · {m.origin}"


def model_picker() -> None:
    listings = shared.model_listings(shared.settings())
    by_name = {m.name: m for m in listings}
    settings = shared.settings()
    # A shared deployment may turn arbitrary hub ids off (POTION_ALLOW_HUB_IDS=0): then none is asked for.
    options = [m.name for m in listings] + ([OTHER_HUB] if settings.allow_hub_ids else []) + [LOCAL_DIR]
    if keys.MODEL_CHOICE not in st.session_state:
        _seed_choice(settings.default_model, options)
    choice = st.selectbox("Model", options, key=keys.MODEL_CHOICE, format_func=lambda n: _label(n, by_name))
    if choice == OTHER_HUB:
        typed = st.text_input("Hub id", key=keys.MODEL_HUB_ID, placeholder="owner/model-name").strip()
    elif choice == LOCAL_DIR:
        typed = st.text_input("Model directory", key=keys.MODEL_DIR, placeholder="/path/to/model").strip()
        if settings.model_roots:
            st.caption("Allowed under: " + ", ".join(f"`{root}`" for root in settings.model_roots))
    else:
        typed = choice
    name = variant_picker(typed) if typed else typed
    st.session_state[keys.MODEL] = name or None
    if name:
        model_card(name)


def variant_picker(base: str) -> str:
    """Fewer dimensions and/or int8 weights of the picked model: a model of its own, named base@128d+int8."""
    try:
        ref = resolve_model(base, shared.settings())
        if ref.variant is not None or ref.kind == ModelSource.TRANSFORMER:
            return base  # typed as a variant already (NAME@128d), or a transformer, which has none
    except PotionError:
        return base  # model_card says what is wrong with the name
    # The listing knows the width of every listed model; reading the file header is for typed names only.
    listed = next((m for m in shared.model_listings(shared.settings()) if m.name == base and m.available_offline), None)
    dim = listed.dim if listed is not None and listed.dim else model_dim(base, shared.settings())
    if dim is None:
        return base  # not on disk yet: the variant is offered once the model is loaded
    widths = [dim, *variant_dims(dim)]
    dims_key = keys.VARIANT_DIMS.format(dim=dim)  # per width, so a narrower model never keeps a wider choice
    chosen = st.session_state.get(dims_key, dim) != dim or st.session_state.get(keys.VARIANT_INT8, False)
    with st.expander("Variant: fewer dimensions, int8 weights", expanded=chosen):
        keep = st.selectbox(
            "Dimensions",
            widths,
            key=dims_key,
            format_func=lambda w: f"{w} (all)" if w == dim else f"first {w}",
        )
        int8 = st.checkbox("int8 weights", key=keys.VARIANT_INT8)
        st.caption(
            "The first dimensions of a PCA-ordered model (the bundled and potion ones) carry the most of it; "
            "int8 weights take a quarter of float32's room. A variant is indexed as a model of its own."
        )
    return variant_name(base, ModelVariant(keep if keep != dim else None, "int8" if int8 else None))


def _seed_choice(default: str, options: list[str]) -> None:
    """Start with POTION_DEFAULT_MODEL, whichever kind of name it is."""
    from pathlib import Path

    if default in options:
        st.session_state[keys.MODEL_CHOICE] = default
    elif Path(default).expanduser().is_dir():
        st.session_state[keys.MODEL_CHOICE], st.session_state[keys.MODEL_DIR] = LOCAL_DIR, default
    elif OTHER_HUB in options:
        st.session_state[keys.MODEL_CHOICE], st.session_state[keys.MODEL_HUB_ID] = OTHER_HUB, default
    else:  # a hub id as default where hub ids are off: the first listed model instead
        st.session_state[keys.MODEL_CHOICE] = options[0]


def model_card(name: str) -> None:
    try:
        ref = resolve_model(name, shared.settings())
    except PotionError as exc:
        st.error(shared.inert(exc))
        return
    cached = is_available_offline(ref, shared.settings())
    if not cached:
        # Never download behind the user's back: a hub model is fetched only on an explicit click.
        st.caption(f"{shared.inert(ref.source)} is not cached yet: loading it needs the Hugging Face hub.")
        if not st.button("Load model", key=f"load-{name}"):
            return
    embedder = shared.try_embedder(name, download=not cached)  # the one place a model is ever downloaded
    if embedder is None:
        return
    if not cached:
        shared.model_listings.clear()  # fetched just now: the picker should list it as cached from here on
    info = embedder.info
    cols = st.columns(2)
    cols[0].metric("Dimensions", info.dim)
    cols[1].metric("Parameters", info.params_label)
    size = f"{format_bytes(info.file_size_bytes)} {'if saved' if info.variant else 'on disk'}"
    variant = f"  \nVariant {info.variant}: its own index and provenance (fingerprint {info.fingerprint})"
    st.caption(
        f"Vocabulary {info.vocab_size:,} · {info.dtype} · {size}  \n"
        f"Source: {origin_label(info.kind)} · "
        f"{shared.inert(info.name if info.kind == ModelSource.BUNDLED else info.source)} · "
        "available offline" + (variant if info.variant else "")
    )
    st.caption(multilingual_text(model_multilingual(info)))
    if info.kind == ModelSource.TRANSFORMER:
        st.caption(
            "A transformer, not a static model: each text takes a forward pass through its layers (torch), at "
            "indexing and at every query. Index a library with it as the reference a potion is measured against; "
            "the Costs page shows what that costs here. Search gives no per-word shares for it."
        )
    if info.kind == ModelSource.ADAPTED:
        made_card(info.source)


def made_card(folder: str) -> None:
    """How a model made here was made, from its CARD.json, folded away."""
    card = next((m.card for m in shared.model_listings(shared.settings()) if m.source == folder and m.card), None)
    if card is None:
        return
    with st.expander(f"Made here from '{shared.inert(card.get('library', '?'))}'"):
        st.caption("  \n".join(f"**{what}** {shared.inert(value)}" for what, value in card_facts(card)))


def _create_library() -> None:
    name = st.session_state.get(keys.NEW_LIBRARY_NAME, "").strip()
    if name:
        try:
            language = st.session_state.get(keys.NEW_LIBRARY_LANGUAGE)
            create_library(
                shared.store(shared.settings()), name, shared.actor(), language
            )  # recorded in the database: it survives a reload
        except PotionError as exc:
            st.session_state[keys.LIBRARY_ERROR] = str(exc)
            return
        st.session_state[keys.LIBRARY_CHOICE] = name


def library_picker() -> None:
    store = shared.shared_store()
    if error := st.session_state.pop(keys.LIBRARY_ERROR, None):
        st.error(shared.inert(error))
    try:
        # An empty database gets its default library here, unless this session may only read.
        choice = library_choice(store, shared.settings(), shared.actor())
    except PotionError as exc:
        st.error(shared.inert(exc))
        return
    known = choice.names
    if known:
        if st.session_state.get(keys.LIBRARY_CHOICE) not in known:
            st.session_state[keys.LIBRARY_CHOICE] = choice.start
        st.selectbox("Library", known, key=keys.LIBRARY_CHOICE)
    st.session_state[keys.LIBRARY] = st.session_state.get(keys.LIBRARY_CHOICE)
    if not shared.may_write():
        shared.read_only_note("New libraries")
        return
    with st.expander("New library", expanded=not known), st.form("new-library", clear_on_submit=True, border=False):
        st.text_input("Name", key=keys.NEW_LIBRARY_NAME, placeholder="e.g. Aerodynamics papers")
        st.selectbox(
            "Language",
            [*LANGUAGES, NONE],
            index=None,
            format_func=lambda language: language.label,
            placeholder="Detected from the first documents",
            key=keys.NEW_LIBRARY_LANGUAGE,
            help="The documents' language: keyword search stems words and drops stop words in it.",
        )
        st.form_submit_button("Create", on_click=_create_library)


pages = [
    st.Page(shared.HOME_PAGE, title="Home", icon=":material/home:", default=True),
    st.Page(shared.LIBRARY_PAGE, title="Library", icon=":material/library_books:"),
    st.Page(shared.SEARCH_PAGE, title="Search", icon=":material/search:"),
    st.Page(shared.COMPARE_PAGE, title="Compare", icon=":material/compare:"),
    st.Page(shared.EVALUATE_PAGE, title="Evaluate", icon=":material/labs:"),
    st.Page(shared.JUDGMENTS_PAGE, title="Judgments", icon=":material/fact_check:"),
    st.Page(shared.QUERY_SETS_PAGE, title="Query sets", icon=":material/checklist:"),
    st.Page(shared.RUNS_PAGE, title="Runs", icon=":material/difference:"),
    st.Page(shared.MAP_PAGE, title="Map", icon=":material/scatter_plot:"),
    st.Page(shared.COSTS_PAGE, title="Costs", icon=":material/payments:"),
    st.Page(shared.ADAPT_PAGE, title="Make your own potion", icon=":material/experiment:"),
    st.Page(shared.AUDIT_PAGE, title="Audit log", icon=":material/history:"),
]
shared.frame_settings()
if account.shut_out():
    # POTION_REQUIRE_SIGN_IN: nothing but the sign-in view, as the only (hidden) page, whatever URL was asked for. It
    # still goes through st.navigation, which keeps Streamlit from listing the pages/ folder on its own.
    st.navigation([st.Page(account.sign_in_view, title="Sign in", url_path="sign-in")], position="hidden").run()
    st.stop()
navigation = st.navigation(pages)
with st.sidebar:
    account.sidebar_account()
    st.subheader("Model")
    model_picker()
    st.subheader("Library")
    library_picker()
try:
    with shared.framed():  # the page knows it runs inside this frame (shared.ensure_frame)
        navigation.run()
except PotionError as exc:  # a page body's database call failed: one line, never a traceback
    st.error(shared.inert(exc))
