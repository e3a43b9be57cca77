// modelyard pages: charts from the JSON the server embeds, the playground's streamed answer,
// and copy buttons. No inline script anywhere (the pages' CSP forbids it).
"use strict";

(function () {
  const palette = ["#1f5fa8", "#c2410c", "#15803d", "#7e22ce", "#b45309", "#0e7490", "#be123c", "#4d7c0f"];

  function readData(id) {
    const element = document.getElementById(id);
    return element ? JSON.parse(element.textContent) : null;
  }

  function paretoChart() {
    const data = readData("pareto-data");
    const canvas = document.getElementById("pareto-chart");
    if (!data || !canvas) return;
    const point = (p) => ({ x: p.usd_per_million, y: p.score, label: p.name });
    const frontier = data.points.filter((p) => p.on_frontier).map(point);
    const others = data.points.filter((p) => !p.on_frontier).map(point);
    canvas.chart = new Chart(canvas, {
      type: "scatter",
      data: {
        datasets: [
          { label: "Pareto frontier", data: frontier, showLine: true, borderColor: palette[1], backgroundColor: palette[1], pointRadius: 5 },
          { label: "Other models", data: others, borderColor: palette[0], backgroundColor: palette[0], pointRadius: 4 },
        ],
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: {
          x: { title: { display: true, text: "USD per million tokens (cheapest deployment)" }, beginAtZero: true },
          y: { title: { display: true, text: data.benchmark + " score" } },
        },
        plugins: {
          tooltip: { callbacks: { label: (ctx) => ctx.raw.label + ": $" + ctx.raw.x + "/M, " + ctx.raw.y } },
        },
      },
    });
  }

  function stackedByDay(canvas, days, series, title) {
    canvas.chart = new Chart(canvas, {
      type: "bar",
      data: {
        labels: days,
        datasets: series.map((s, i) => ({ label: s.label, data: s.data, backgroundColor: palette[i % palette.length] })),
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: { x: { stacked: true }, y: { stacked: true, title: { display: true, text: "USD" } } },
        plugins: { title: { display: true, text: title } },
      },
    });
  }

  function spendCharts() {
    const data = readData("spend-data");
    if (!data) return;
    const byModel = document.getElementById("spend-days");
    if (byModel) stackedByDay(byModel, data.days, data.by_model, "Spend per day, by model");
    const byKey = document.getElementById("spend-keys");
    if (byKey) stackedByDay(byKey, data.days, data.by_key, "Spend per day, by key");
    const saving = document.getElementById("spend-saving-chart");
    if (saving && data.reference) {
      saving.chart = new Chart(saving, {
        type: "line",
        data: {
          labels: data.days,
          datasets: [
            { label: "Spent through modelyard", data: data.spent, borderColor: palette[2], backgroundColor: palette[2] },
            { label: "The same tokens on " + data.reference.label, data: data.reference.data, borderColor: palette[1], backgroundColor: palette[1], borderDash: [6, 4] },
          ],
        },
        options: {
          animation: false,
          maintainAspectRatio: false,
          scales: { y: { beginAtZero: true, title: { display: true, text: "USD, running total" } } },
          plugins: { title: { display: true, text: "Saving against the reference model" } },
        },
      });
    }
  }

  // Server-sent events from /playground/stream: each `data:` line is one chunk of the
  // OpenAI stream; an `error` object ends it with a message.
  async function streamAnswer(form) {
    const answer = document.getElementById("answer");
    const meta = document.getElementById("answer-meta");
    answer.textContent = "";
    answer.dataset.state = "streaming";
    meta.textContent = "Waiting for the first token…";
    let response;
    try {
      response = await fetch("/playground/stream", {
        method: "POST",
        body: new URLSearchParams(new FormData(form)),
        credentials: "same-origin",
      });
    } catch (err) {
      answer.dataset.state = "error";
      meta.textContent = "The connection failed: " + err;
      return;
    }
    if (!response.ok) {
      let message = "HTTP " + response.status;
      try {
        message = (await response.json()).error.message;
      } catch (_) { /* not JSON: keep the status */ }
      answer.dataset.state = "error";
      meta.textContent = message;
      return;
    }
    meta.textContent = "From " + response.headers.get("x-modelyard-deployment") + " (" + response.headers.get("x-modelyard-model") + ")";
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        for (const line of event.split("\n")) {
          if (!line.startsWith("data: ")) continue;
          const payload = line.slice(6);
          if (payload === "[DONE]") {
            answer.dataset.state = "done";
            continue;
          }
          const chunk = JSON.parse(payload);
          if (chunk.error) {
            answer.dataset.state = "error";
            meta.textContent = "The answer stopped: " + chunk.error.message;
            return;
          }
          for (const choice of chunk.choices || []) {
            if (choice.delta && choice.delta.content) answer.textContent += choice.delta.content;
          }
        }
      }
    }
    if (answer.dataset.state === "streaming") answer.dataset.state = "done";
  }

  function playground() {
    const form = document.getElementById("playground");
    if (!form) return;
    document.body.addEventListener("htmx:afterSwap", (event) => {
      if (event.detail.target.id !== "decision") return;
      const chosen = document.getElementById("chosen");
      if (chosen && chosen.dataset.ready === "true") streamAnswer(form);
    });
  }

  function copyButtons() {
    for (const button of document.querySelectorAll("button[data-copy]")) {
      button.addEventListener("click", async () => {
        const source = document.querySelector(button.dataset.copy);
        try {
          await navigator.clipboard.writeText(source.textContent);
          button.textContent = "Copied";
        } catch (_) {
          button.textContent = "Select the text to copy";
        }
      });
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    paretoChart();
    spendCharts();
    playground();
    copyButtons();
  });
})();
