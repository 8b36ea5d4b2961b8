"""report.html: written by fit, rebuilt by ``deepclust report``, written by ``model.report``, and
opened in a real browser (headless Chromium driven by Playwright): no console errors, nothing
fetched, the map's points, a hover's tooltip, one card per cluster, a screenshot."""
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from plotly.offline import get_plotlyjs

from deepclust import AEKMeans, AutoClusterer, DeepclustError
from deepclust.cli import outputs
from deepclust.datasets import load_mnist_sample
from deepclust.report import page as report_page
from test_cli import assert_user_error, invoke
from test_modalities import FAST, customers, sentences, write_shapes, write_tones

#: the four runs, by modality: data, fit options, clusters
RUNS = {
    "images": ("shapes", ["--method", "vade", "--pretrain-epochs", "5", "--epochs", "2", "-k", "3"]),
    "text": ("docs.txt", ["--method", "ae-kmeans", "--pretrain-epochs", "5", "--text-backend", "tfidf", "-k", "3"]),
    "table": ("customers.csv", ["--method", "ae-gmm", "--pretrain-epochs", "5", "--label-column", "segment",
                                "-k", "3"]),
    "audio": ("tones", ["--method", "ae-kmeans", "--pretrain-epochs", "5", "-k", "3"]),
}
#: rows of each run's data
ROWS = {"images": 60, "text": 60, "table": 150, "audio": 36}
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """One ``deepclust fit`` output folder per modality."""
    root = tmp_path_factory.mktemp("report")
    write_shapes(root / "shapes", 20, 0)
    texts, _ = sentences(20, 0)
    (root / "docs.txt").write_text("\n".join(texts) + "\n")
    customers(150, 0).to_csv(root / "customers.csv", index=False)
    write_tones(root / "tones", 12, 0)
    folders = {}
    for kind, (data, options) in RUNS.items():
        out = root / f"{kind}-out"
        result = invoke("fit", root / data, *options, *FAST, "--out", out)
        assert result.exit_code == 0, (kind, result.stderr, result.exception)
        folders[kind] = out
    return folders


def payload(html: str) -> dict:
    found = re.search(r'<script id="payload" type="application/json">(.*?)</script>', html, re.S)
    return json.loads(found.group(1))


def test_fit_writes_one_self_contained_page(runs):
    for kind, out in runs.items():
        html = (out / "report.html").read_text()
        assert html.count(get_plotlyjs()) == 1  # Plotly's JavaScript embedded once; the browser test checks
        ours = html.replace(get_plotlyjs(), "")  # that nothing is fetched
        assert not re.search(r"""(src|href|url)\s*[=(]\s*["']?(https?:)?//""", ours), kind
        assert "<script src" not in ours and "<link" not in ours
        data = payload(html)
        assert len(data["points"]["cluster"]) == ROWS[kind]
        assert html.count('<article class="card"') == len(np.unique(data["points"]["cluster"]))
    table = (runs["table"] / "report.html").read_text()
    assert "ACC" in table and "Known labels against clusters" in table
    rows = payload(table)["points"]["text"]
    assert all("income: " in row and "customer_id" not in row for row in rows)  # the ID column left out, as in fit
    assert "Generated samples" in (runs["images"] / "report.html").read_text()  # VaDE draws per cluster


def test_no_report_leaves_it_out(runs, tmp_path):
    out = tmp_path / "again"
    shutil.copytree(runs["table"], out)
    data, options = RUNS["table"]
    result = invoke("fit", runs["table"].parent / data, *options, *FAST, "--no-report", "--out", out)
    assert result.exit_code == 0, (result.stderr, result.exception)
    assert not (out / "report.html").exists()  # the earlier run's page would not match this run
    assert (out / "run.json").exists()


def test_a_failing_report_costs_only_the_page(runs, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise AttributeError("no such thing")

    monkeypatch.setattr(outputs, "render_report", broken)
    data, options = RUNS["table"]
    result = invoke("fit", runs["table"].parent / data, *options, *FAST, "--out", tmp_path / "out")
    assert result.exit_code == 0, (result.stderr, result.exception)
    assert "note: report.html skipped after an unexpected AttributeError: no such thing (a bug in deepclust" in result.stderr
    assert (tmp_path / "out" / "labels.csv").exists() and not (tmp_path / "out" / "report.html").exists()


def test_report_command_rebuilds_the_page(runs):
    out = runs["text"]
    before = (out / "report.html").read_text()
    (out / "report.html").unlink()
    result = invoke("report", out, "--quiet")
    assert result.exit_code == 0, (result.stderr, result.exception)
    assert result.stdout.strip() == f"wrote {out / 'report.html'}"
    after = (out / "report.html").read_text()
    assert payload(after)["points"] == payload(before)["points"]
    assert after.count('<article class="card"') == before.count('<article class="card"')


def test_report_command_refuses_what_it_cannot_rebuild(runs, tmp_path):
    assert_user_error(invoke("report", tmp_path), f"{tmp_path / 'run.json'}: not found; give a folder written by 'deepclust fit'")
    moved = tmp_path / "moved"
    shutil.copytree(runs["table"], moved)
    record = json.loads((moved / "run.json").read_text())
    record["data"] = str(tmp_path / "gone.csv")
    (moved / "run.json").write_text(json.dumps(record))
    assert_user_error(invoke("report", moved), f"{tmp_path / 'gone.csv'}, the data of this run, is gone; pass --data")
    other = tmp_path / "other.csv"
    customers(40, 3).to_csv(other, index=False)
    assert_user_error(invoke("report", moved, "--data", other),
                      f"{other} has 40 samples but the model of {moved} was fitted on 150: not the data of this run")
    assert (moved / "report.html").read_text() == (runs["table"] / "report.html").read_text()  # left as it was


def test_model_report_from_python(blobs, tmp_path, monkeypatch):
    X, y = blobs
    model = AEKMeans(n_clusters=4, random_state=0, verbose=0, latent_dim=4, hidden_dims=(64,), pretrain_epochs="auto",
                     batch_size=64, device="cpu").fit(X)
    path = model.report(X, tmp_path / "blobs.html", y=y)
    html = path.read_text()
    data = payload(html)
    assert data["points"]["cluster"] == model.labels_.tolist()
    assert html.count('<article class="card"') == 4
    assert "All 400 samples." in html and "x0: " in data["points"]["text"][0]
    monkeypatch.setattr(report_page, "MAP_POINTS", 100)
    html = model.report(X, tmp_path / "subset.html").read_text()
    assert "Showing 100 of 400 samples, a random subset." in html
    assert len(payload(html)["points"]["index"]) == 100
    frame = pd.DataFrame(X, columns=[f"gene{i}" for i in range(X.shape[1])])
    on_frame = AEKMeans(n_clusters=4, random_state=0, verbose=0, latent_dim=4, hidden_dims=(64,), batch_size=64,
                        device="cpu").fit(frame)
    rows = payload(on_frame.report(frame, tmp_path / "frame.html").read_text())["points"]
    assert rows["text"][0].startswith(f"gene0: {frame.iloc[rows['index'][0], 0]:.4g}\n")
    with pytest.raises(DeepclustError, match="report: 400 samples but 3 y"):
        model.report(X, tmp_path / "bad.html", y=y[:3])
    assert not (tmp_path / "bad.html").exists()


@pytest.mark.filterwarnings("ignore:pretrain_epochs=3 gives")
def test_report_of_the_default_on_images_shows_thumbnails(tmp_path):
    X, y = load_mnist_sample()
    X, y = X[:300], y[:300]
    model = AutoClusterer(3, pretrain_epochs=3, epochs=1, hidden_dims=(32,), batch_size=64, random_state=0,
                          device="cpu").fit(X)
    html = model.report(X, tmp_path / "digits.html", y=y).read_text()
    data = payload(html)
    assert data["sprite"] == {"width": 28, "height": 28, "columns": 100}
    assert html.count('class="thumb"') >= 3 and "n2d: the route for images" in html


def test_report_of_a_chosen_k_draws_the_criterion(blobs, tmp_path):
    X, y = blobs
    model = AutoClusterer("auto", candidates=("kmeans", "gmm"), k_range=(2, 6), random_state=0).fit(X)
    html = model.report(X, tmp_path / "k.html", y=y).read_text()
    curve = payload(html)["figures"]["k"]["data"]
    assert curve[0]["x"] == [2, 3, 4, 5, 6] and curve[1]["x"] == [model.n_clusters_] == [4]
    assert "Choosing the number of clusters" in html and model.selection_ in html


# --------------------------------------------------------------------------------------------------
# in a browser


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="the browser tests need Playwright: "
                                   "pip install 'deepclust[dev]'")
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("no Chromium for the report's browser tests: apt-get install chromium (Debian)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


#: the screen position of the map's point nearest the middle of the plot (clear of the legend,
#: the menu and the mode bar), and the number of points shown
MIDDLE_POINT = """() => {
  const map = document.getElementById("map"), layout = map._fullLayout, box = map.getBoundingClientRect();
  const visible = map._fullData.filter(t => t.visible === true);
  const mx = layout.xaxis._length / 2, my = layout.yaxis._length / 2;
  let best = null;
  for (const trace of visible) {
    for (let i = 0; i < trace.x.length; i++) {
      const px = layout.xaxis.l2p(trace.x[i]), py = layout.yaxis.l2p(trace.y[i]);
      const d = (px - mx) ** 2 + (py - my) ** 2;
      if (best === null || d < best.d) best = {d: d, px: px, py: py};
    }
  }
  return {x: box.left + layout.xaxis._offset + best.px, y: box.top + layout.yaxis._offset + best.py,
          points: visible.reduce((n, t) => n + t.x.length, 0)};
}"""


@pytest.mark.parametrize("kind", list(RUNS))
def test_report_in_a_browser(runs, browser, kind, tmp_path):
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    errors, fetched = [], []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: fetched.append(request.url)
            if not request.url.startswith(("file:", "data:")) else None)
    html = (runs[kind] / "report.html").read_text()
    data = payload(html)
    page.goto((runs[kind] / "report.html").as_uri())
    page.wait_for_function("window.reportReady === true", timeout=60_000)

    page.locator("#map").scroll_into_view_if_needed()
    first = page.evaluate(MIDDLE_POINT)
    assert first["points"] == ROWS[kind]
    assert page.locator("article.card").count() == len(np.unique(data["points"]["cluster"]))
    assert page.is_hidden("#tip")
    page.mouse.move(first["x"], first["y"], steps=4)
    page.wait_for_selector("#tip", state="visible", timeout=5_000)
    head = page.inner_text("#tip .tip-head")
    assert re.match(r"sample \d+ · cluster \d+", head), head
    sample = int(re.match(r"sample (\d+)", head).group(1))
    shown = data["points"]["text"][data["points"]["index"].index(sample)]
    assert page.inner_text("#tip .tip-text") == shown
    if kind == "images":
        assert page.locator("#tip .tip-thumb").is_visible()
        assert page.locator("article.card .thumb").count() > 0
    if kind == "text":
        assert any(word in shown for word in ("football", "recipe", "planet", "the", "a"))
        assert page.locator("article.card .terms span").count() > 0
    if kind == "table":
        assert shown.startswith("age: ")
        assert page.locator("article.card table.features tr").count() > 3
    if kind == "audio":
        assert re.fullmatch(r"band[012]/tone\d+\.wav", shown), shown  # the name under the folder
        sources = page.eval_on_selector_all("article.card audio", "players => players.map(p => p.src)")
        assert sources and all(s.startswith("data:audio/wav;base64,") for s in sources)
    page.mouse.move(5, 5)
    page.wait_for_selector("#tip", state="hidden", timeout=5_000)
    shot = tmp_path / f"{kind}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert errors == [] and fetched == []
    page.close()
