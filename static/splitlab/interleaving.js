/* The interleaving report's chart: the cumulative share of decided users favouring each team
   over the control, by day, with its 95% interval; 0.5 is no preference. */
(function () {
  "use strict";
  const node = document.getElementById("interleaving-chart-data");
  const canvas = document.getElementById("preference-chart");
  if (!node || !canvas || typeof Chart === "undefined") return;
  const data = JSON.parse(node.textContent);
  const palette = ["#2457c5", "#c62828", "#1a7f37", "#9a6700"];
  const datasets = [];
  Object.entries(data.series).forEach(([key, points], i) => {
    const color = palette[i % palette.length];
    datasets.push({ label: `${key} over ${data.control}`, data: points.map((p) => p.share), borderColor: color, tension: 0 });
    datasets.push({ label: "_low", data: points.map((p) => p.low), borderColor: color, borderDash: [3, 3], pointRadius: 0 });
    datasets.push({ label: "_high", data: points.map((p) => p.high), borderColor: color, borderDash: [3, 3], pointRadius: 0 });
  });
  new Chart(canvas, {
    type: "line",
    data: { labels: data.labels, datasets },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      plugins: { legend: { position: "bottom", labels: { filter: (item) => !item.text.startsWith("_") } } },
      scales: {
        x: { title: { display: true, text: "day (UTC)" } },
        y: { min: 0, max: 1, title: { display: true, text: "share of decided users" } },
      },
    },
  });
})();
