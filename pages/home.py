"""Home: what this is, and where to start."""

import streamlit as st

from core.embed.catalog import bundled_models
from pages import shared

store, library = shared.begin(":material/science: Potion Search", needs_library=False)
st.markdown(
    "Semantic search with **static embeddings**. A [Model2Vec](https://github.com/MinishLab/model2vec) "
    "*potion* model turns text into a vector by averaging token vectors — no neural network at query time, "
    "so it runs in milliseconds on a laptop CPU, offline. Vectors live in an embedded **Milvus Lite** "
    "database; set `MILVUS_URI` to use a Milvus server instead."
)
steps = st.columns(3)
steps[0].markdown("**1. Pick a model** in the sidebar. The bundled ones are small and work offline.")
steps[1].markdown("**2. Add documents** on the Library page: upload files or load the sample set.")
steps[2].markdown("**3. Search and compare**: see the hits, why they matched, and how models differ.")

libraries = store.libraries()
settings = shared.settings()
cols = st.columns(3)
cols[0].metric("Libraries", len(libraries))
cols[1].metric("Indexed chunks", sum(c.chunks for lib in libraries for c in lib.collections))
cols[2].metric("Bundled models", len(bundled_models(settings.models_dir)))
if not shared.may_write():  # a read-only demo: what there is to see, and nothing to add
    shared.read_only_note("Adding documents and libraries")
    if library:
        st.page_link(shared.SEARCH_PAGE, label=f"Search {shared.inert(library)}", icon=":material/search:")
elif library:
    current = next((lib for lib in libraries if lib.name == library), None)
    if current is None or not current.collections:
        st.info(f"**{shared.inert(library)}** is empty: upload documents or load the samples on the Library page.")
    # One click from the first screen to the uploader, with nothing to create first.
    st.page_link(shared.LIBRARY_PAGE, label=f"Add documents to {shared.inert(library)}", icon=":material/upload_file:")
else:
    st.info("No library yet: create one in the sidebar, then open **Library** to add documents or load the samples.")
st.caption(f"Database: `{settings.milvus_uri}` · bundled models in `{settings.models_dir}`")
