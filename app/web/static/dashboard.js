/* The dashboard's charts, drawn by Chart.js (served from /ui/static/vendor) from the
   figures the page carries in its JSON data island. Without script, or without Chart.js,
   the tables under the charts give the same figures. */
(function () {
  "use strict";
  const island = document.getElementById("dashboard-data");
  if (!island || typeof window.Chart === "undefined") return;
  const data = JSON.parse(island.textContent);
  const Chart = window.Chart;
  const css = getComputedStyle(document.documentElement);
  const color = function (name, fallback) { return css.getPropertyValue(name).trim() || fallback; };
  const INK = color("--ink", "#111827");
  const LINE = color("--line", "#d1d5db");
  const CALLS = color("--accent", "#1d4ed8");
  const RATE = "#b45309"; // amber 700: 4.5:1 on white, apart from the accent's blue

  Chart.defaults.color = INK;
  Chart.defaults.borderColor = LINE;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.font.size = 13;

  // a rate says it is one; an empty period's rate is none, not 0
  function label(context) {
    const value = context.parsed.y;
    const rate = context.dataset.yAxisID === "rate";
    return context.dataset.label + ": " + (value === null ? "none" : value + (rate ? "%" : ""));
  }

  function axes(countTitle, rateTitle) {
    return {
      count: {
        type: "linear", position: "left", beginAtZero: true,
        title: { display: true, text: countTitle },
        ticks: { precision: 0 },
      },
      rate: {
        type: "linear", position: "right", min: 0, max: 100,
        title: { display: true, text: rateTitle },
        ticks: { callback: function (value) { return value + "%"; } },
        grid: { drawOnChartArea: false },
      },
    };
  }

  function draw(id, config) {
    const canvas = document.getElementById(id);
    if (!canvas) return;
    // the box is hidden until there is something to draw: no blank space without script
    canvas.parentElement.hidden = false;
    config.options = Object.assign({
      // drawn at once: a dashboard is read, not watched
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: "index", intersect: false },
      plugins: {
        legend: { position: "bottom", labels: { usePointStyle: true, boxWidth: 10, boxHeight: 10 } },
        tooltip: { callbacks: { label: label } },
      },
    }, config.options);
    new Chart(canvas, config);
    canvas.dataset.drawn = "true";
  }

  const trend = data.trend;
  draw("trend-chart", {
    type: "line",
    data: {
      labels: trend.labels,
      datasets: [
        {
          label: "Calls opened", data: trend.calls, yAxisID: "count",
          borderColor: CALLS, backgroundColor: CALLS, pointStyle: "circle",
        },
        {
          label: "Tier-1 resolution (%)", data: trend.tier1, yAxisID: "rate",
          borderColor: RATE, backgroundColor: RATE, borderDash: [6, 4], pointStyle: "triangle",
          pointRadius: 4,
        },
      ],
    },
    options: { scales: axes("Calls opened", "Tier-1 resolution") },
  });

  const modality = data.modality;
  draw("modality-chart", {
    type: "bar",
    data: {
      labels: modality.labels,
      datasets: [
        {
          label: "Calls opened", data: modality.calls, yAxisID: "count",
          backgroundColor: CALLS, pointStyle: "rect",
        },
        {
          label: "Escalation rate (%)", data: modality.escalation, yAxisID: "rate",
          backgroundColor: RATE, pointStyle: "rect",
        },
      ],
    },
    options: { scales: axes("Calls opened", "Escalation rate") },
  });
})();
