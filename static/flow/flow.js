/* The flow page's four charts (Chart.js, static/vendor/chart.umd.min.js), drawn from the
   #flow-chart-data JSON the page carries. The same numbers are in the tables beside them. */
(function () {
  "use strict";

  const INK = "#334155";
  const GRID = "#e2e8f0";
  const ACCENT = "#2563eb";
  const ACCENT_SOFT = "rgba(37, 99, 235, 0.35)";
  const RED = "#dc2626";
  const P90 = "#cbd5e1";
  // One colour per stage in board order, SCHEDULED IN … DELIVERED/CLOSED.
  const STAGE_COLOURS = [
    "#94a3b8", "#64748b", "#38bdf8", "#0ea5e9", "#0284c7", "#6366f1", "#8b5cf6", "#a855f7",
    "#d946ef", "#ec4899", "#f43f5e", "#f97316", "#f59e0b", "#84cc16", "#22c55e",
  ];

  function days(value) {
    return value == null ? "–" : value >= 1 ? value.toFixed(1) + " d" : (value * 24).toFixed(1) + " h";
  }

  function baseOptions() {
    return {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      plugins: { legend: { labels: { color: INK, boxWidth: 12 } } },
    };
  }

  function cycleChart(canvas, data, zone) {
    const dateOf = new Intl.DateTimeFormat(undefined, { timeZone: zone, day: "numeric", month: "short" });
    // One array per coordinate (smaller than an object per car): a point per delivered car.
    const xs = data.x;
    const points = xs.map((x, i) => ({ x, y: data.days[i], ro: data.ro[i] }));
    const datasets = [{
      type: "scatter", label: "A delivered car", data: points,
      backgroundColor: ACCENT_SOFT, borderColor: ACCENT, pointRadius: 3,
    }];
    if (data.median_days != null && xs.length) {
      datasets.push({
        type: "line", label: "Median " + days(data.median_days),
        data: [{ x: Math.min(...xs), y: data.median_days }, { x: Math.max(...xs), y: data.median_days }],
        borderColor: RED, borderWidth: 2, pointRadius: 0,
      });
    }
    const options = baseOptions();
    options.scales = {
      x: { type: "linear", ticks: { color: INK, callback: (v) => dateOf.format(new Date(v)) }, grid: { color: GRID } },
      y: { beginAtZero: true, title: { display: true, text: "days, keys to keys", color: INK },
           ticks: { color: INK }, grid: { color: GRID } },
    };
    options.plugins.tooltip = { callbacks: { label: (item) => item.raw.ro
      ? "RO " + item.raw.ro + ": " + days(item.raw.y) + ", delivered " + dateOf.format(new Date(item.raw.x))
      : item.dataset.label } };
    return new Chart(canvas, { type: "scatter", data: { datasets }, options });
  }

  function stagesChart(canvas, data) {
    const medianColours = data.labels.map((_, i) => (i === data.bottleneck ? RED : ACCENT));
    const options = baseOptions();
    options.indexAxis = "y";
    options.scales = {
      x: { beginAtZero: true, title: { display: true, text: "days", color: INK }, ticks: { color: INK }, grid: { color: GRID } },
      y: { ticks: { color: INK, autoSkip: false }, grid: { display: false } },
    };
    options.plugins.tooltip = { callbacks: { label: (item) => item.dataset.label + ": " + days(item.raw) } };
    return new Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: [
          { label: "Median", data: data.median_days, backgroundColor: medianColours },
          { label: "90th percentile", data: data.p90_days, backgroundColor: P90 },
        ],
      },
      options,
    });
  }

  function throughputChart(canvas, data) {
    const options = baseOptions();
    options.plugins.legend.display = false;
    options.scales = {
      x: { ticks: { color: INK, maxRotation: 0, autoSkipPadding: 12 }, grid: { display: false } },
      y: { beginAtZero: true, title: { display: true, text: "cars delivered", color: INK },
           ticks: { color: INK, precision: 0 }, grid: { color: GRID } },
    };
    return new Chart(canvas, {
      type: "bar",
      data: { labels: data.labels, datasets: [{ label: "Delivered", data: data.delivered, backgroundColor: ACCENT }] },
      options,
    });
  }

  function wipChart(canvas, data) {
    // Stacked from the bottom: DELIVERED/CLOSED first, SCHEDULED IN on top (a classic CFD).
    const series = data.series.map((s, i) => ({ ...s, colour: STAGE_COLOURS[i] })).reverse();
    const datasets = series.map((s, i) => ({
      label: s.name, data: s.counts, borderColor: s.colour, backgroundColor: s.colour,
      fill: i === 0 ? "origin" : "-1", pointRadius: 0, borderWidth: 1, tension: 0,
    }));
    // Cars delivered before the period would flatten every other band: the axis starts at them.
    const delivered = series[0].counts;
    const floor = delivered.length ? Math.min(...delivered) : 0;
    const options = baseOptions();
    options.interaction = { mode: "index", intersect: false };
    // Fifteen names fit beside the chart on a wide screen, under it on a laptop.
    options.plugins.legend.position = canvas.parentElement.clientWidth > 1200 ? "right" : "bottom";
    options.plugins.legend.reverse = true;
    options.scales = {
      x: { ticks: { color: INK, maxRotation: 0, autoSkipPadding: 16 }, grid: { display: false } },
      y: { stacked: true, min: floor, ticks: { color: INK, precision: 0 }, grid: { color: GRID },
           title: { display: true, text: "cars", color: INK } },
    };
    return new Chart(canvas, { type: "line", data: { labels: data.labels, datasets }, options });
  }

  function draw() {
    const source = document.getElementById("flow-chart-data");
    if (!source || !window.Chart) return;
    const data = JSON.parse(source.textContent);
    Chart.defaults.font.family = getComputedStyle(document.documentElement).fontFamily;
    cycleChart(document.getElementById("chart-cycle"), data.cycle, data.time_zone);
    stagesChart(document.getElementById("chart-stages"), data.stages);
    throughputChart(document.getElementById("chart-throughput"), data.throughput);
    wipChart(document.getElementById("chart-wip"), data.wip);
    document.body.dataset.flowDrawn = "true";
  }

  document.addEventListener("DOMContentLoaded", draw);
})();
