"""Potion Search: Streamlit entry point (the full UI lands with the app issue)."""

import streamlit as st

from core.config import load_settings
from core.errors import PotionError
from core.models import load_embedder

st.set_page_config(page_title="Potion Search", page_icon="🧪", layout="wide")


@st.cache_resource(show_spinner="Loading the model…")
def _embedder(name: str):
    return load_embedder(name)


settings = load_settings()
st.title("Potion Search")
try:
    info = _embedder(settings.default_model).info
    st.success(f"Loaded {info.name}: {info.dim} dims, {info.vocab_size:,} tokens, {info.params_label} parameters.")
except PotionError as exc:
    st.error(str(exc))
st.caption(f"Database: {settings.milvus_uri}")
