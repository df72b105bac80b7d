// Power curve of the planner: power (%) against the MDE at the planned sample size.
// Readable without hovering: axis titles, the target power as a dashed line and the planned
// point labelled on the canvas.
(function () {
  "use strict";
  const source = document.getElementById("planner-chart");
  const canvas = document.getElementById("power-curve");
  if (!source || !canvas || typeof Chart === "undefined") return;
  const data = JSON.parse(source.textContent);
  const xs = data.points.map((p) => p.x);
  const fmt = (v) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3));

  const plannedLabel = {
    id: "plannedLabel",
    afterDatasetsDraw(chart) {
      const meta = chart.getDatasetMeta(1);
      if (!meta || !meta.data.length) return;
      const point = meta.data[0];
      const { ctx } = chart;
      const text = `planned: MDE ${fmt(data.planned.x)}${data.x_unit}, power ${data.planned.y.toFixed(1)}%`;
      ctx.save();
      ctx.font = "600 13px system-ui, sans-serif";
      ctx.fillStyle = "#c62828";
      const width = ctx.measureText(text).width;
      const right = point.x + 10 + width > chart.chartArea.right;
      ctx.textAlign = right ? "right" : "left";
      ctx.fillText(text, right ? point.x - 10 : point.x + 10, point.y + 18);
      ctx.restore();
    },
  };

  new Chart(canvas, {
    type: "line",
    data: {
      datasets: [
        {
          label: `Power with ${data.n_control.toLocaleString()} users in control`,
          data: data.points,
          borderColor: "#2457c5",
          backgroundColor: "#2457c5",
          pointRadius: 0,
          borderWidth: 2,
          tension: 0.2,
        },
        {
          label: "Planned MDE",
          data: [data.planned],
          borderColor: "#c62828",
          backgroundColor: "#c62828",
          pointRadius: 6,
          showLine: false,
        },
        {
          label: `Target power ${data.target.toFixed(0)}%`,
          data: [
            { x: Math.min(...xs), y: data.target },
            { x: Math.max(...xs), y: data.target },
          ],
          borderColor: "#9a6700",
          borderDash: [6, 4],
          borderWidth: 1.5,
          pointRadius: 0,
        },
      ],
    },
    options: {
      parsing: true,
      maintainAspectRatio: false,
      animation: false,
      scales: {
        x: {
          type: "linear",
          min: Math.min(0, ...xs),
          max: Math.max(0, ...xs),
          title: { display: true, text: data.x_title },
        },
        y: { min: 0, max: 100, title: { display: true, text: "Power (%)" } },
      },
      plugins: { legend: { position: "bottom" } },
    },
    plugins: [plannedLabel],
  });
})();
