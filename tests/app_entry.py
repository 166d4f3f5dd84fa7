"""app.py as AppTest runs it: the same script, started from a folder with no pages/ beside it.

Streamlit reads a folder named pages/ beside the entry file as a legacy multipage app until st.navigation runs,
and AppTest forgets before every run that it ran (it resets Streamlit's record of the mode), so started from the
repository every run would open the requested page file alone, without app.py. Started from here, app.py's
st.navigation is the only navigation there is, as on a server after its first request. The legacy path itself
is covered by a test that starts app.py directly."""

import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parent.parent / "app.py"), run_name="__main__")
