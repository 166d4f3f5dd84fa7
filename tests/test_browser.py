"""End to end in a real headless Chromium: the app as a user drives it (Debian chromium + Playwright)."""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import BUNDLED_DEFAULT, SEED_DOCS
from tests.servers import free_port, serve

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
WAIT_MS = 120_000

if not Path(CHROMIUM).exists():
    pytest.skip("Debian's chromium is not installed (scripts/test.sh installs it)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("browser-data")
    port = free_port()
    env = {
        **os.environ,
        "POTION_DB_PATH": str(data / "e2e.db"),
        "HF_HUB_CACHE": str(data / "hf"),
        "HF_HUB_OFFLINE": "1",
    }
    env.pop("MILVUS_URI", None)
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", port, "--server.headless", "true"]
    with serve(command, ready_text="Local URL", cwd=ROOT, env=env):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def page(app_url):
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.set_default_timeout(WAIT_MS)
        pg.goto(app_url)
        yield pg
        browser.close()


def settle(pg) -> None:
    """Wait until the script run has finished: Streamlit shows a status widget while running, and marks what the
    run has not drawn again yet (a download button below the text a test waited for) as stale."""
    pg.wait_for_selector("[data-testid=stMain] h1")
    pg.wait_for_function(
        "() => !document.querySelector('[data-testid=stStatusWidget]') && !document.querySelector('[data-stale=true]')"
    )


def goto_page(pg, name: str) -> None:
    pg.locator("[data-testid=stSidebarNav]").get_by_text(name, exact=True).click()
    pg.wait_for_url(f"**/{name.lower()}")
    settle(pg)


def create_library(pg, name: str) -> None:
    sidebar = pg.locator("[data-testid=stSidebar]")
    if not sidebar.get_by_label("Name").is_visible():  # folded once a library exists
        sidebar.get_by_text("New library").click()
    sidebar.get_by_label("Name").fill(name)
    sidebar.get_by_role("button", name="Create").click()
    sync_api.expect(sidebar.get_by_role("combobox", name="Library")).to_have_value(name, timeout=WAIT_MS)
    settle(pg)


def test_a_first_visit_reaches_the_uploader_in_one_click(page, app_url):
    pg = page
    settle(pg)
    assert "Potion Search" in pg.locator("h1").first.inner_text()
    pg.screenshot(path=ARTIFACTS / "00-first-visit.png", full_page=True)
    pg.get_by_text("Add documents to My library").click()  # the one click: nothing to create first
    pg.wait_for_url("**/library")
    settle(pg)
    assert "My library" in pg.locator("h1").first.inner_text()
    pg.locator("[data-testid=stFileUploaderDropzoneInput]").wait_for(state="attached")
    pg.goto(app_url)


def test_upload_index_search_and_compare(page, tmp_path):
    pg = page
    settle(pg)
    assert "Potion Search" in pg.locator("h1").first.inner_text()
    pg.screenshot(path=ARTIFACTS / "01-home.png", full_page=True)

    create_library(pg, "E2E library")

    goto_page(pg, "Library")
    assert "E2E library" in pg.locator("h1").first.inner_text()
    files = [tmp_path / "turing.md", tmp_path / "founding.html", tmp_path / "broken.pdf"]
    files[2].write_bytes(b"%PDF-1.4 this is not really a pdf")
    files[0].write_text("# Alan Turing\n\n" + SEED_DOCS[1] + "\n\n" + SEED_DOCS[2], encoding="utf-8")
    files[1].write_text(f"<html><head><title>AI</title></head><body><p>{SEED_DOCS[0]}</p></body></html>")
    pg.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files([str(f) for f in files])
    pg.get_by_role("button", name="Index 3 file(s)").click()
    pg.get_by_text(re.compile(r"Indexed in [0-9.]+ s")).wait_for()
    settle(pg)
    main = pg.locator("[data-testid=stMain]")
    assert re.search(r"2 indexed, 0 already present, 1 failed; 2 chunks added", main.inner_text())
    failures = main.locator("[data-testid=stTable]").inner_text()
    assert "broken.pdf could not be read as a PDF" in failures
    pg.screenshot(path=ARTIFACTS / "02-library.png", full_page=True)

    goto_page(pg, "Search")
    pg.get_by_label("Query").fill("Where was Alan Turing born?")
    pg.get_by_role("button", name="Search").click()
    values = pg.locator("[data-testid=stMain] [data-testid=stMetricValue]")
    values.nth(1).wait_for()  # the script draws the query's and the documents' dimensions one after the other
    settle(pg)
    assert values.all_inner_texts()[:2] == ["256 dims", "256 dims"]
    pg.locator("[data-testid=stHtml] mark").first.wait_for()  # highlighted chunks render after the metrics
    assert "Turing" in pg.locator("[data-testid=stHtml] mark").all_inner_texts()
    assert "turing.md" in pg.locator("[data-testid=stMain]").inner_text()
    pg.screenshot(path=ARTIFACTS / "03-search.png", full_page=True)

    goto_page(pg, "Compare")
    index_button = pg.get_by_role("button", name=re.compile("Index E2E library with minilm-static-256"))
    index_button.click()
    index_button.wait_for(state="detached")  # gone once the job has finished and the page reran
    settle(pg)
    pg.get_by_label("Query").fill("When was artificial intelligence founded")
    pg.get_by_role("button", name="Compare").click()
    pg.get_by_text("Agreement", exact=True).wait_for()
    pg.locator("[data-testid=stMain] [data-testid=stTable]").wait_for()
    settle(pg)
    main = pg.locator("[data-testid=stMain]").inner_text()
    assert BUNDLED_DEFAULT in main and "minilm-static-256" in main
    assert main.count("query 256d · docs 256d") == 2
    assert "rank-biased overlap" in main
    pg.screenshot(path=ARTIFACTS / "04-compare.png", full_page=True)


def test_load_samples_fills_an_empty_library_and_finds_turing(page):
    pg = page
    create_library(pg, "Samples")
    goto_page(pg, "Library")
    pg.get_by_role("button", name="Load sample documents").click()
    pg.get_by_text(re.compile(r"Indexed in [0-9.]+ s")).wait_for()
    # The outcome shows first, then the rest of that run replaces the empty library's offer: wait for it to go
    # (it fails on timeout if the library still looks empty).
    pg.get_by_role("button", name="Load sample documents").wait_for(state="detached")
    settle(pg)
    pg.screenshot(path=ARTIFACTS / "05-library-samples.png", full_page=True)

    goto_page(pg, "Search")
    pg.get_by_label("Query").fill("where was Alan Turing born")
    pg.get_by_role("button", name="Search").click()
    pg.locator("[data-testid=stHtml] mark").first.wait_for()
    pg.get_by_text(re.compile(r"#2 · score")).wait_for()
    settle(pg)
    text = pg.locator("[data-testid=stMain]").inner_text()
    first_hit = text[text.index("#1 ·") : text.index("#2 ·")]
    assert "alan-turing.md" in first_hit
    pg.screenshot(path=ARTIFACTS / "06-search-samples.png", full_page=True)


def test_judge_hits_then_evaluate_on_the_judgments(page):
    """Issue 8: an analyst marks hits while searching, then reads metrics computed on those verdicts."""
    pg = page  # the Samples library, searched for Turing by the test above
    main = pg.locator("[data-testid=stMain]")
    pg.get_by_role("button", name="Relevant", exact=True).first.click()
    main.get_by_text("You judged this document relevant").first.wait_for()
    settle(pg)
    pg.get_by_role("button", name="Not relevant", exact=True).nth(1).click()
    main.get_by_text("You judged this document not relevant").first.wait_for()
    settle(pg)

    goto_page(pg, "Judgments")
    main.get_by_text(re.compile(r"2\s+judgments over\s+1\s+queries")).wait_for()
    pg.get_by_role("button", name="Evaluate").click()
    main.locator("[data-testid=stTable]").first.wait_for()
    settle(pg)
    results = main.locator("[data-testid=stTable]").first.inner_text()
    assert "nDCG@10" in results and BUNDLED_DEFAULT in results  # the labels of every evaluation table
    assert re.search(r"dense\s+1\.0000 \[1\.000, 1\.000\]", results), results  # the relevant hit ranked first
    pg.screenshot(path=ARTIFACTS / "07-judgments.png", full_page=True)


def test_two_tabs_one_indexes_while_the_other_searches(page, app_url, tmp_path):
    """Issue 9: two sessions at once. Tab A indexes a big upload; tab B searches another library meanwhile and
    gets its hits while A's job is still running; then A's library is complete and searchable from B."""
    import io
    import zipfile

    words = ["wing", "lift", "drag", "stall", "flow", "shock", "nozzle", "thrust", "blade", "heat", "panel"]
    archive = tmp_path / "reports.zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for i in range(1500):  # ~3 MB of text: long enough to search from the other tab while it runs
            body = " ".join(words[(i * 3 + j) % len(words)] for j in range(320))
            bundle.writestr(f"report-{i:04d}.txt", f"Report {i} on turbulence. {body}.")
    archive.write_bytes(buffer.getvalue())

    tab_b = page  # the Samples library, made and searched by the tests above
    tab_a = tab_b.context.browser.new_page(viewport={"width": 1400, "height": 1000})  # its own session
    tab_a.set_default_timeout(WAIT_MS)
    tab_a.goto(app_url)
    settle(tab_a)
    create_library(tab_a, "Tab A")
    goto_page(tab_a, "Library")
    tab_a.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(str(archive))
    tab_a.get_by_role("button", name="Index 1 file(s)").click()
    tab_a.locator("[data-testid=stProgress]").wait_for()  # A's job is under way

    goto_page(tab_b, "Search")
    tab_b.get_by_label("Query").fill("where was Alan Turing born")
    tab_b.get_by_role("button", name="Search").click()
    tab_b.locator("[data-testid=stHtml] mark").first.wait_for()
    assert "alan-turing.md" in tab_b.locator("[data-testid=stMain]").inner_text()
    assert tab_a.locator("[data-testid=stProgress]").is_visible(), "A finished before B searched: no overlap shown"
    tab_a.screenshot(path=ARTIFACTS / "08-tab-a-indexing.png", full_page=True)
    tab_b.screenshot(path=ARTIFACTS / "09-tab-b-searching.png", full_page=True)

    tab_a.get_by_text(re.compile(r"Indexed in [0-9.]+ s")).wait_for()
    settle(tab_a)
    assert re.search(r"1500 indexed, 0 already present, 0 failed", tab_a.locator("[data-testid=stMain]").inner_text())
    tab_a.close()


def test_a_deep_link_as_a_fresh_servers_first_request_gets_the_frame(page, tmp_path):
    """Before any session has run st.navigation, Streamlit runs a pages/ file alone: it must send itself through
    app.py (the sidebar, the navigation), which then serves deep links as usual."""
    port = free_port()
    env = {**os.environ, "POTION_DB_PATH": str(tmp_path / "deep.db"), "HF_HUB_CACHE": str(tmp_path / "hf")}
    env.pop("MILVUS_URI", None)
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", port, "--server.headless", "true"]
    with serve(command, ready_text="Local URL", cwd=ROOT, env=env):
        pg = page.context.browser.new_page(viewport={"width": 1400, "height": 1000})  # a server of its own
        pg.set_default_timeout(WAIT_MS)
        try:
            pg.goto(f"http://127.0.0.1:{port}/search")  # the server's very first request
            settle(pg)
            sidebar = pg.locator("[data-testid=stSidebar]")
            sync_api.expect(sidebar.get_by_role("combobox", name="Model")).to_be_visible()
            nav = pg.locator("[data-testid=stSidebarNav]")
            sync_api.expect(nav.get_by_text("Compare", exact=True)).to_be_visible()
            pg.goto(f"http://127.0.0.1:{port}/search")  # from now on a deep link opens its page in the frame
            settle(pg)
            assert "Search" in pg.locator("h1").first.inner_text()
            sync_api.expect(sidebar.get_by_role("combobox", name="Model")).to_be_visible()
        finally:
            pg.close()


def test_evaluate_twice_with_different_weights_then_open_the_diff_of_the_two_runs(page, tmp_path):
    """Issue 20: an analyst changes the hybrid's weight, evaluates again, and sees on the Runs page which queries
    moved: the shared queries, wins, ties and losses, and the per-query scatter."""
    from tests.test_cli_evaluate import write_tiny_collection

    pg = page
    folder = write_tiny_collection(tmp_path / "tiny")
    main = pg.locator("[data-testid=stMain]")
    goto_page(pg, "Evaluate")
    main.get_by_text("A folder on this machine").click()
    settle(pg)
    main.get_by_label("Folder", exact=True).fill(str(folder))
    main.get_by_label("Folder", exact=True).press("Enter")
    settle(pg)
    for weight, dropped in (("0.5", None), ("1", "0.5")):  # on the tiny collection, dense alone ranks q4 better
        if dropped:
            main.get_by_role("button", name=f"Remove {dropped}").click()
            settle(pg)
        main.get_by_role("combobox", name="Weighted hybrid (dense share)").fill(weight)  # typing narrows the list
        pg.get_by_role("option", name=weight, exact=True).click()
        pg.keyboard.press("Escape")
        settle(pg)
        pg.get_by_role("button", name="Evaluate", exact=True).click()
        main.get_by_text(re.compile(rf"Saved as runs .*hybrid w={re.escape(weight)}")).wait_for()
        settle(pg)

    goto_page(pg, "Runs")
    picker = main.get_by_role("combobox", name=re.compile("^Runs to compare"))
    for weight in ("0.5", "1"):  # A, the baseline, first
        picker.click()
        pg.get_by_role("option", name=re.compile(rf"hybrid w={re.escape(weight)} ")).click()
        pg.keyboard.press("Escape")
        settle(pg)
    main.get_by_text("Compared on 4 shared queries (the same judgments).").wait_for()
    chart = main.locator("[data-testid=stVegaLiteChart]").first
    chart.locator("canvas, svg").first.wait_for()
    settle(pg)
    box = chart.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 300, box
    labels = main.locator("[data-testid=stMetricLabel]").all_inner_texts()
    assert {"B better", "Tied", "B worse", "Mean overlap@10", "Mean RBO"} <= set(labels), labels
    counts = [int(v) for v in main.locator("[data-testid=stMetricValue]").all_inner_texts()[:3]]
    assert counts == [1, 3, 0], counts  # q4 better, the others equal
    pg.screenshot(path=ARTIFACTS / "10-runs-diff.png", full_page=True)
    chart.scroll_into_view_if_needed()  # the page scrolls inside its main area, past what a screenshot holds
    pg.screenshot(path=ARTIFACTS / "11-runs-scatter.png")

    shown = main.get_by_role("combobox", name="Run", exact=True)  # one run's details: B's
    shown.click()
    shown.fill("hybrid w=1")  # typing opens and narrows the list
    pg.get_by_role("option", name=re.compile(r"hybrid w=1 ")).click()
    main.get_by_text(f"{BUNDLED_DEFAULT} hybrid w=1 on tiny: nDCG@10 1.0000 over 4 judged queries").wait_for()
    settle(pg)
    with pg.expect_download() as download:
        main.get_by_role("button", name="TREC run file").click()
    lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert lines and all(line.split()[1] == "Q0" for line in lines) and "w_1_" in lines[0].split()[-1]
