/* Charts of the report pages (Chart.js 4, served locally). Data comes from json_script tags.
   Readable without hovering: axis titles, a zero line, and the latest value in each legend. */
(function () {
  "use strict";
  const palette = ["#2457c5", "#c62828", "#1a7f37", "#9a6700", "#6f42c1", "#0e7490", "#b4236e"];
  const color = (i, alpha) => {
    const hex = palette[i % palette.length];
    if (alpha === undefined) return hex;
    const n = parseInt(hex.slice(1), 16);
    return `rgba(${n >> 16}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
  };
  const readJson = (id) => {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  };
  const fmt = (v, digits) => (v === null || v === undefined || !isFinite(v) ? "–" : v.toFixed(digits));
  const baseOptions = (yTitle) => ({
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    interaction: { mode: "index", intersect: false },
    plugins: { legend: { position: "bottom", labels: { filter: (item) => !item.text.startsWith("_") } } },
    scales: {
      x: { title: { display: true, text: "day (UTC)" } },
      y: { title: { display: true, text: yTitle } },
    },
  });
  const zeroLine = {
    id: "zeroLine",
    afterDraw(chart) {
      const y = chart.scales.y;
      if (!y || y.min > 0 || y.max < 0) return;
      const ctx = chart.ctx;
      const py = y.getPixelForValue(0);
      ctx.save();
      ctx.strokeStyle = "#5b6475";
      ctx.setLineDash([4, 4]);
      ctx.beginPath();
      ctx.moveTo(chart.chartArea.left, py);
      ctx.lineTo(chart.chartArea.right, py);
      ctx.stroke();
      ctx.restore();
    },
  };

  function effectChart(data) {
    const canvas = document.getElementById("effect-chart");
    if (!canvas || !data) return;
    const datasets = [];
    const unit = data.unit || "";
    const unitShort = unit === "percentage points" ? "pp" : unit;
    data.effect.forEach((s, i) => {
      const points = (values) => s.days.map((d, k) => ({ x: d, y: values[k] }));
      const last = s.effect.length - 1;
      // A one-sided test's band is a half-line (its open end null): draw its bound as a line.
      const halfLine = s.lower.concat(s.upper).some((v) => v === null);
      const edge = { borderWidth: halfLine ? 1 : 0, borderDash: [4, 3], borderColor: color(i, 0.7) };
      datasets.push({ label: `_${s.label} lower`, data: points(s.lower), pointRadius: 0, ...edge,
                      backgroundColor: color(i, 0.15), fill: false });
      datasets.push({ label: `_${s.label} upper`, data: points(s.upper), pointRadius: 0, ...edge,
                      backgroundColor: color(i, 0.15), fill: "-1" });
      datasets.push({
        label: `${s.label}: ${fmt(s.effect[last], 2)} [${fmt(s.lower[last], 2)}, ${fmt(s.upper[last], 2)}]${unit ? " " + unitShort : ""}`,
        data: points(s.effect), borderColor: color(i), backgroundColor: color(i), pointRadius: 2,
        fill: false, tension: 0,
      });
    });
    new Chart(canvas, {
      type: "line",
      data: { labels: data.days, datasets },
      options: baseOptions(`effect, variant − control${unit ? " (" + unit + ")" : ""}`),
      plugins: [zeroLine],
    });
  }

  function exposureChart(data) {
    const canvas = document.getElementById("exposure-chart");
    if (!canvas || !data) return;
    const datasets = data.exposures.map((s, i) => ({
      label: `${s.label}: ${s.data.reduce((a, b) => a + b, 0)} users`,
      data: s.data, backgroundColor: color(i, 0.8),
    }));
    new Chart(canvas, { type: "bar", data: { labels: data.days, datasets },
                        options: baseOptions("users first exposed") });
  }

  // One chart per metric, each on its own scale; null points (not meaningful) are gaps.
  function holdoutCharts(data) {
    if (!data) return;
    data.lines.forEach((s, i) => {
      const canvas = document.getElementById(`holdout-chart-${s.key}`);
      if (!canvas) return;
      const dataset = {
        label: `${s.label}: ${fmt(s.relative[s.relative.length - 1], 2)}%`,
        data: s.days.map((d, k) => ({ x: d, y: s.relative[k] })),
        borderColor: color(i), backgroundColor: color(i), pointRadius: 2, fill: false, spanGaps: false,
      };
      new Chart(canvas, { type: "line", data: { labels: s.days, datasets: [dataset] },
                          options: baseOptions("relative effect (%)"), plugins: [zeroLine] });
    });
  }

  function draw() {
    if (typeof Chart === "undefined") return;
    const report = readJson("report-chart-data");
    effectChart(report);
    exposureChart(report);
    holdoutCharts(readJson("holdout-chart-data"));
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
