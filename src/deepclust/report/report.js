// Glue between the page and Plotly: draw the figures, and show the hovered sample beside the map.
(function () {
  "use strict";
  const payload = JSON.parse(document.getElementById("payload").textContent);
  const config = { displaylogo: false, responsive: true, scrollZoom: true };
  for (const [id, fig] of Object.entries(payload.figures)) {
    const element = document.getElementById(id);
    const small = id.startsWith("confidence-");
    Plotly.newPlot(element, fig.data, fig.layout, small ? { staticPlot: true } : config);
  }
  const map = document.getElementById("map");
  const tip = document.getElementById("tip");
  const head = tip.querySelector(".tip-head");
  const thumb = tip.querySelector(".tip-thumb");
  const text = tip.querySelector(".tip-text");
  const points = payload.points;
  const sheet = payload.sprite;
  if (!sheet) thumb.remove();
  map.on("plotly_hover", function (event) {
    const j = event.points[0].customdata;
    let line = "sample " + points.index[j] + " · cluster " + points.cluster[j];
    if (points.confidence) line += " · confidence " + points.confidence[j].toFixed(2);
    if (points.truth) line += " · label " + points.truth[j];
    head.textContent = line;
    text.textContent = points.text[j];
    if (sheet) {
      const s = payload.scale, w = sheet.width * s, h = sheet.height * s;
      const row = Math.floor(j / sheet.columns), col = j % sheet.columns;
      thumb.style.width = 2 * w + "px";
      thumb.style.height = 2 * h + "px";
      thumb.style.backgroundSize = 2 * sheet.columns * w + "px auto";
      thumb.style.backgroundPosition = -2 * col * w + "px " + -2 * row * h + "px";
    }
    tip.hidden = false;
    const x = event.event.clientX, y = event.event.clientY;
    const box = tip.getBoundingClientRect();
    tip.style.left = Math.min(x + 16, window.innerWidth - box.width - 8) + "px";
    tip.style.top = Math.min(y + 16, window.innerHeight - box.height - 8) + "px";
  });
  map.on("plotly_unhover", function () { tip.hidden = true; });
  window.reportReady = true;
})();
