// The playground: generate or read the data, POST it to /fit and /fit/plot, show the answers.
// No dependencies, no build step. Field names are the API's own (see /docs).
"use strict";

(function () {
  const FIELDS = [
    "csv", "x", "y", "learning_rate", "epochs", "update", "optimizer", "momentum",
    "history_points", "history_spacing",
  ];
  // Aliases the API accepts, mapped to the form field that carries them.
  const ALIASES = { X: "x", Y: "y", lr: "learning_rate" };
  const NUMBER_FIELDS = ["learning_rate", "epochs", "momentum", "history_points"];
  const CHOICE_FIELDS = ["update", "optimizer", "history_spacing"];

  const $ = (id) => document.getElementById(id);
  let plotUrl = null;

  // mulberry32: a small seeded 32-bit generator, uniform in [0, 1).
  function mulberry32(seed) {
    let a = seed >>> 0;
    return function () {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  // Box-Muller: standard normal draws from the uniform generator.
  function normals(uniform) {
    let spare = null;
    return function () {
      if (spare !== null) {
        const value = spare;
        spare = null;
        return value;
      }
      let u = 0;
      while (u === 0) u = uniform();
      const v = uniform();
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return r * Math.cos(2 * Math.PI * v);
    };
  }

  // The article's data: x = linspace(-1, 1, n) + N(0, 0.25), the same for y; 4 decimals.
  function articleData(seed, n) {
    const normal = normals(mulberry32(seed));
    const round = (value) => Math.round(value * 1e4) / 1e4;
    const x = [];
    const y = [];
    for (let i = 0; i < n; i += 1) {
      x.push(round(-1 + (2 * i) / (n - 1) + 0.25 * normal()));
    }
    for (let i = 0; i < n; i += 1) {
      y.push(round(-1 + (2 * i) / (n - 1) + 0.25 * normal()));
    }
    return { x, y };
  }

  function generate() {
    const seed = Number.parseInt($("seed").value, 10) || 0;
    const n = Math.min(Math.max(Number.parseInt($("points").value, 10) || 100, 2), 100000);
    const data = articleData(seed, n);
    $("x").value = data.x.join(", ");
    $("y").value = data.y.join(", ");
    $("csv").value = "";
    clearError("x");
    clearError("y");
    clearError("csv");
  }

  // The CSV box as a text/csv body: a first line of numbers means no header, so "x,y" is
  // put in front (two columns, x then y); otherwise the header is the service's to read.
  function csvBody() {
    const text = $("csv").value.replace(/^\uFEFF/, "");
    const first = text.split(/\r?\n/, 1)[0];
    const numbers = first.split(",").every((cell) => cell.trim() !== "" && Number.isFinite(Number(cell)));
    return numbers ? "x,y\n" + text : text;
  }

  // The hyperparameters as a query string, written as the API reads them (text bare, numbers
  // as typed), for a CSV body.
  function queryString(body) {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(body)) {
      if (name !== "x" && name !== "y") params.append(name, String(value));
    }
    return params.toString();
  }

  function readFile(file) {
    if (!file) return;
    file.text().then((text) => {
      $("csv").value = text;
      clearError("csv");
    }, () => showError("csv", "Could not read " + file.name + "."));
  }

  // A typed value as a JSON number when it is one; otherwise the raw text, so that the API
  // (the one validator) answers why it is not acceptable, next to the field.
  function numberOrText(text) {
    const trimmed = text.trim();
    const value = Number(trimmed);
    return trimmed !== "" && Number.isFinite(value) ? value : trimmed;
  }

  function parseList(text) {
    return text.split(/[\s,;]+/).filter((token) => token !== "").map(numberOrText);
  }

  function requestBody() {
    const body = { x: parseList($("x").value), y: parseList($("y").value) };
    for (const name of NUMBER_FIELDS) {
      const input = $(name);
      if (!input.disabled && input.value.trim() !== "") body[name] = numberOrText(input.value);
    }
    for (const name of CHOICE_FIELDS) body[name] = $(name).value;
    return body;
  }

  function headers(accept, contentType) {
    const result = { "Content-Type": contentType, Accept: accept };
    const key = $("api_key").value.trim();
    if (key) result.Authorization = "Bearer " + key;
    return result;
  }

  function clearError(field) {
    $(field + "-error").textContent = "";
    $(field).removeAttribute("aria-invalid");
  }

  function clearErrors() {
    for (const field of FIELDS) clearError(field);
    $("form-error").textContent = "";
  }

  // The form field a 422 detail item concerns: the last name in its loc that is one of ours
  // (loc[-1] is the field, or an array index inside it, as in ["body", "x", 3]).
  function fieldOf(loc) {
    // A CSV body's errors (its cells, rows and header) belong to the CSV box.
    if (loc[0] === "body" && $("csv").value.trim() !== "") return "csv";
    for (let i = loc.length - 1; i >= 0; i -= 1) {
      const name = ALIASES[loc[i]] || loc[i];
      if (FIELDS.includes(name)) return name;
    }
    return null;
  }

  function showError(field, message) {
    const box = field ? $(field + "-error") : $("form-error");
    box.textContent = box.textContent ? box.textContent + " " + message : message;
    if (field) $(field).setAttribute("aria-invalid", "true");
  }

  function showErrors(status, payload) {
    const detail = payload && payload.detail;
    if (Array.isArray(detail)) {
      for (const item of detail) {
        const loc = Array.isArray(item.loc) ? item.loc : [];
        const field = fieldOf(loc);
        const index = field && field !== "csv" && typeof loc[loc.length - 1] === "number"
          ? "item " + loc[loc.length - 1] + ": " : "";
        showError(field, index + (item.msg || "invalid value"));
      }
    } else {
      showError(null, "HTTP " + status + ": " + (typeof detail === "string" ? detail : "request failed"));
    }
    const first = FIELDS.find((field) => $(field).getAttribute("aria-invalid") === "true");
    if (first) $(first).focus();
  }

  function show(id, value) {
    $(id).textContent = String(value);
  }

  function showResult(result) {
    for (const name of ["m", "b", "cost", "epochs_run", "stop_reason", "gradient_norm",
      "max_stable_learning_rate"]) {
      show("result-" + name, result[name]);
    }
    const optimum = result.optimum;
    show("result-optimum", optimum.m + ", " + optimum.b + ", " + optimum.cost);
    $("numbers").hidden = false;
    showStatistics(result.statistics);

    const list = $("warnings");
    list.replaceChildren(...result.warnings.map((text) => {
      const item = document.createElement("li");
      item.textContent = text;
      return item;
    }));
    $("warnings-box").hidden = result.warnings.length === 0;

    const rows = $("history");
    const history = result.history;
    rows.replaceChildren();
    if (history) {
      history.epoch.forEach((epoch, i) => {
        const row = document.createElement("tr");
        for (const value of [epoch, history.m[i], history.b[i], history.cost[i]]) {
          const cell = document.createElement("td");
          cell.textContent = typeof value === "number" && !Number.isInteger(value)
            ? value.toPrecision(8) : String(value);
          row.append(cell);
        }
        rows.append(row);
      });
    }
    $("history-box").hidden = !history;
  }

  // The fit's statistics (the answer's `statistics`): the returned line's r2, rmse and mae, then
  // the least-squares inference. null means "undefined for this data" (two points, constant
  // y, a perfect line): shown as a dash with that explanation in its tooltip.
  const STATISTICS = [
    ["r2", "R² of the returned line"],
    ["rmse", "RMSE"],
    ["mae", "MAE (null for moments)"],
    ["ols.m", "least-squares m"],
    ["ols.b", "least-squares b"],
    ["ols.r", "r"],
    ["ols.r2", "R² (least squares)"],
    ["ols.adjusted_r2", "adjusted R²"],
    ["ols.df", "residual df"],
    ["ols.residual_std_error", "residual std. error"],
    ["ols.stderr_m", "std. error of m"],
    ["ols.stderr_b", "std. error of b"],
    ["ols.t_m", "t of m"],
    ["ols.t_b", "t of b"],
    ["ols.p_m", "p-value of m"],
    ["ols.p_b", "p-value of b"],
    ["ols.ci_m", "confidence interval of m"],
    ["ols.ci_b", "confidence interval of b"],
    ["ols.f_statistic", "F statistic"],
    ["ols.f_p_value", "p-value of F"],
    ["ols.confidence_level", "confidence level"],
  ];

  function formatStatistic(value) {
    if (value === null || value === undefined) return "\u2014";
    if (Array.isArray(value)) return "[" + value.map(formatStatistic).join(", ") + "]";
    return typeof value === "number" && !Number.isInteger(value)
      ? value.toPrecision(6) : String(value);
  }

  function showStatistics(statistics) {
    let box = $("statistics-box");
    if (!box) {
      box = document.createElement("details");
      box.id = "statistics-box";
      box.open = true;
      const summary = document.createElement("summary");
      summary.textContent = "Statistics";
      const list = document.createElement("dl");
      list.id = "statistics";
      box.append(summary, list);
      $("numbers").after(box);
    }
    if (!statistics) {
      box.hidden = true;
      return;
    }
    $("statistics").replaceChildren(...STATISTICS.map(([path, label]) => {
      const value = path.split(".").reduce((node, key) => (node ? node[key] : null), statistics);
      const row = document.createElement("div");
      const term = document.createElement("dt");
      const data = document.createElement("dd");
      term.textContent = label;
      data.id = "statistic-" + path.replace(".", "-");
      data.textContent = formatStatistic(value);
      if (value === null) data.title = "undefined for this data (two points, constant y, or a perfect line)";
      row.append(term, data);
      return row;
    }));
    box.hidden = false;
  }

  async function showPlot(response) {
    if (response.ok) {
      const blob = await response.blob();
      if (plotUrl) URL.revokeObjectURL(plotUrl);
      plotUrl = URL.createObjectURL(blob);
      const image = $("plot");
      image.hidden = false;
      const loaded = new Promise((resolve) => { image.onload = resolve; image.onerror = resolve; });
      image.src = plotUrl;
      await loaded;
      $("plot-caption").textContent = "Drawn by POST /fit/plot (" + blob.type + ").";
    } else {
      let message = "HTTP " + response.status;
      try {
        const payload = await response.json();
        if (typeof payload.detail === "string") message = payload.detail;
      } catch (error) { /* not JSON: keep the status */ }
      $("plot").hidden = true;
      $("plot").removeAttribute("src");
      $("plot-caption").textContent = "No plot: " + message;
    }
    $("plot-box").hidden = false;
  }

  async function fit(event) {
    event.preventDefault();
    clearErrors();
    const fields = requestBody();
    const csv = $("csv").value.trim() !== "";
    // A CSV goes as it is, its hyperparameters in the query string; else JSON.
    const body = csv ? csvBody() : JSON.stringify(fields);
    const type = csv ? "text/csv" : "application/json";
    const query = csv ? "?" + queryString(fields) : "";
    const button = $("fit");
    button.disabled = true;
    $("results").setAttribute("aria-busy", "true");
    $("status").textContent = "Fitting...";
    $("results").dataset.state = "busy";
    try {
      const [answer, picture] = await Promise.all([
        fetch("/fit" + query, { method: "POST", headers: headers("application/json", type), body }),
        fetch("/fit/plot" + query, { method: "POST", headers: headers("image/png", type), body }),
      ]);
      const payload = await answer.json().catch(() => null);
      if (!answer.ok) {
        showErrors(answer.status, payload);
        $("numbers").hidden = true;
        $("warnings-box").hidden = true;
        $("plot-box").hidden = true;
        $("history-box").hidden = true;
        $("status").textContent = "The service refused the request (HTTP " + answer.status + ").";
        return;
      }
      showResult(payload);
      await showPlot(picture);
      $("status").textContent = "Fitted " + payload.n + " points.";
    } catch (error) {
      showError(null, "Could not reach the service: " + error.message);
      $("status").textContent = "Failed.";
    } finally {
      button.disabled = false;
      $("results").setAttribute("aria-busy", "false");
      $("results").dataset.state = "done";
    }
  }

  function syncMomentum() {
    $("momentum").disabled = $("optimizer").value === "gd";
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("generate").addEventListener("click", generate);
    $("optimizer").addEventListener("change", syncMomentum);
    $("fit-form").addEventListener("submit", fit);
    $("csv-file").addEventListener("change", (event) => readFile(event.target.files[0]));
    const box = $("csv");
    box.addEventListener("dragover", (event) => {
      event.preventDefault();
      box.classList.add("dragging");
    });
    box.addEventListener("dragleave", () => box.classList.remove("dragging"));
    box.addEventListener("drop", (event) => {
      event.preventDefault();
      box.classList.remove("dragging");
      readFile(event.dataTransfer.files[0]);
    });
    for (const field of FIELDS) $(field).addEventListener("input", () => clearError(field));
    syncMomentum();
    generate();
  });
})();
