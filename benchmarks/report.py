"""Benchmark: size, build time and responsiveness of ``report.html`` (``make bench-report``).

Not a test. For two run folders:

- the bundled MNIST sample (``deepclust demo``, the default method), and
- all 70,000 MNIST images (``deepclust fit mnist70k.npy -k 10`` with a Gaussian mixture on a
  briefly pretrained autoencoder: how good the clusters are does not change the page),

it times ``deepclust report RUN_DIR`` end to end (a new process: model and data loaded, every
sample's confidence, the map's 2-D UMAP, the page rendered), records the page's size, then opens
it in headless Chromium (Playwright) and measures: the time until every figure is drawn, the
latency from moving the mouse onto a point to its tooltip showing (``HOVERS`` points), and the
time a wheel zoom and a drag pan take to redraw the map. Console errors are recorded too.

Results go to ``benchmarks/results/report.{json,md}``.

    python benchmarks/report.py
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from playwright.sync_api import sync_playwright

from deepclust.datasets import load_mnist
from deepclust.files import atomic_write_bytes
from run import CACHE, DEFAULT_MNIST, machine, time_v

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DEEPCLUST = Path(sys.executable).with_name("deepclust")
#: the settings of the 70,000-image run (the report, not the clustering, is measured)
FIT_70K = ["--method", "ae-gmm", "--pretrain-epochs", "3", "--batch-size", "256", "--seed", "0", "--quiet"]
HOVERS = 20
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]

#: screen positions of ``count`` map points spread over the plot (every trace's points in turn)
POINTS = """(count) => {
  const map = document.getElementById("map"), layout = map._fullLayout, box = map.getBoundingClientRect();
  const visible = map._fullData.filter(t => t.visible === true);
  const all = [];
  for (const t of visible) for (let i = 0; i < t.x.length; i++) all.push([t.x[i], t.y[i]]);
  const step = Math.max(1, Math.floor(all.length / count));
  const chosen = [];
  for (let i = 0; i < all.length && chosen.length < count; i += step) {
    chosen.push({x: box.left + layout.xaxis._offset + layout.xaxis.l2p(all[i][0]),
                 y: box.top + layout.yaxis._offset + layout.yaxis.l2p(all[i][1])});
  }
  return {points: all.length, chosen: chosen};
}"""
#: arms ``window.redrawn``, a promise of the time the map next finishes drawing (after a zoom or
#: pan), and returns the time it was armed; the caller awaits it with :data:`AWAIT_REDRAWN`
ARM_REDRAWN = """() => {
  const map = document.getElementById("map");
  window.redrawn = new Promise(resolve => map.once("plotly_afterplot", () => resolve(performance.now())));
  return performance.now();
}"""
AWAIT_REDRAWN = "() => window.redrawn"


def run_folders(mnist_dir: Path) -> dict[str, Path]:
    """The two run folders, fitted once and kept in the cache."""
    demo = CACHE / "report-demo"
    if not (demo / "run.json").exists():
        subprocess.run([str(DEEPCLUST), "demo", "--out", str(demo), "--quiet"], check=True)
    big = CACHE / "report-70k"
    if not (big / "run.json").exists():
        X, y = load_mnist(mnist_dir, split="all")
        CACHE.mkdir(exist_ok=True)
        np.save(CACHE / "mnist70k.npy", X)
        np.save(CACHE / "mnist70k-labels.npy", y)
        subprocess.run([str(DEEPCLUST), "fit", str(CACHE / "mnist70k.npy"), "-k", "10", "--labels",
                        str(CACHE / "mnist70k-labels.npy"), *FIT_70K, "--out", str(big)], check=True)
    return {"bundled MNIST sample (10,000)": demo, "MNIST-70k": big}


def in_browser(page_path: Path) -> dict:
    """Open the page in headless Chromium; times to draw, to show tooltips, to zoom and pan."""
    executable = shutil.which("chromium")
    if executable is None:
        raise SystemExit("the browser measurements need Chromium: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        start = time.perf_counter()
        page.goto(page_path.as_uri())
        page.wait_for_function("window.reportReady === true", timeout=120_000)
        drawn = time.perf_counter() - start
        page.locator("#map").scroll_into_view_if_needed()
        found = page.evaluate(POINTS, HOVERS)
        latencies = []
        for point in found["chosen"]:
            page.mouse.move(5, 5)
            page.wait_for_selector("#tip", state="hidden")
            began = time.perf_counter()
            page.mouse.move(point["x"], point["y"])
            page.wait_for_selector("#tip", state="visible", timeout=10_000)
            latencies.append(time.perf_counter() - began)
        middle = found["chosen"][len(found["chosen"]) // 2]
        page.mouse.move(middle["x"], middle["y"])
        began = page.evaluate(ARM_REDRAWN)
        page.mouse.wheel(0, -400)
        zoom_ms = page.evaluate(AWAIT_REDRAWN) - began
        began = page.evaluate(ARM_REDRAWN)
        page.mouse.down()
        page.mouse.move(middle["x"] + 150, middle["y"] + 80, steps=5)
        page.mouse.up()
        pan_ms = page.evaluate(AWAIT_REDRAWN) - began
        browser.close()
    return {"points_on_map": found["points"], "drawn_s": round(drawn, 2),
            "hover_ms_median": round(1000 * statistics.median(latencies), 1),
            "hover_ms_max": round(1000 * max(latencies), 1),
            "zoom_redraw_ms": round(zoom_ms, 1), "pan_redraw_ms": round(pan_ms, 1), "console_errors": errors}


def markdown(result: dict) -> str:
    lines = [
        "# report.html: size, build time, responsiveness", "",
        f"Machine: {result['machine']['processor']}, {result['machine']['cpu_count']} cores, "
        f"torch {result['machine']['torch']}. Chromium headless (software rendering). "
        f"Command: `python benchmarks/report.py`, {result['date']}, seed {result['seed']}. Runs: `deepclust demo` "
        f"(the default method) and `deepclust fit mnist70k.npy -k 10 {' '.join(FIT_70K)}`. Build = `deepclust "
        "report RUN_DIR` end to end in a new process, one run; browser times in headless Chromium, hover over "
        f"{HOVERS} points spread over the map.", "",
        "| run | samples | on the map | page MB | build s | build peak MB | drawn in browser s "
        "| hover → tooltip ms (median / max) | zoom redraw ms | pan redraw ms | console errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in result["runs"].items():
        b = r["browser"]
        lines.append(
            f"| {name} | {r['samples']:,} | {b['points_on_map']:,} | {r['page_mb']:.1f} | {r['build_s']:.1f} | "
            f"{r['build_peak_mb']:,} | "
            f"{b['drawn_s']:.1f} | {b['hover_ms_median']:.0f} / {b['hover_ms_max']:.0f} | {b['zoom_redraw_ms']:.0f} | "
            f"{b['pan_redraw_ms']:.0f} | {len(b['console_errors'])} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist-dir", type=Path, default=DEFAULT_MNIST)
    args = parser.parse_args()
    runs = {}
    for name, folder in run_folders(args.mnist_dir).items():
        peak_mb, seconds, _ = time_v([str(DEEPCLUST), "report", str(folder), "--quiet"])
        page = folder / "report.html"
        samples = sum(1 for _ in (folder / "labels.csv").open()) - 1  # one row per sample, after the header
        runs[name] = {"samples": samples, "build_s": round(seconds, 1), "build_peak_mb": round(peak_mb),
                      "page_mb": round(page.stat().st_size / 1e6, 2), "browser": in_browser(page)}
        print(name, runs[name], flush=True)
    result = {"runs": runs, "machine": machine(), "seed": 0,
              "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    RESULTS.mkdir(exist_ok=True)
    atomic_write_bytes(RESULTS / "report.json", (json.dumps(result, indent=2) + "\n").encode())
    atomic_write_bytes(RESULTS / "report.md", markdown(result).encode())


if __name__ == "__main__":
    main()
