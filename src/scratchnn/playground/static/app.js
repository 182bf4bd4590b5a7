// The scratchnn playground page: the controls, the URL, and the conversation with the server.
// The server trains (scratchnn's fit); this page only sends settings and commands and draws
// the frames it gets back: from each command's answer, and from the event stream while playing.
"use strict";

const LISTS = { features: String, layers: Number, act: String, plot: Number };
const NUMBERS = ["seed", "samples", "noise", "ratio", "classes", "batch", "lr", "l1", "l2", "dropout", "epochs"];
const DATASETS = [["circles", "circle"], ["xor", "XOR"], ["gaussians", "gaussians"], ["spirals", "spirals"],
                  ["moons", "moons"], ["plane", "plane (regression)"], ["bumps", "bumps (regression)"],
                  ["xor4", "the blog's 4 points"], ["csv", "your CSV"]];
const FEATURES = [["x1", "x₁"], ["x2", "x₂"], ["x1^2", "x₁²"], ["x2^2", "x₂²"], ["x1x2", "x₁x₂"],
                  ["sin_x1", "sin x₁"], ["sin_x2", "sin x₂"]];
const ACTIVATIONS = {
  tanh: "tanh(z) = (eᶻ − e⁻ᶻ) / (eᶻ + e⁻ᶻ)", sigmoid: "σ(z) = 1 / (1 + e⁻ᶻ)", relu: "ReLU(z) = max(0, z)",
  leaky_relu: "LeakyReLU(z) = max(0.01 z, z)", elu: "ELU(z) = z if z > 0 else eᶻ − 1",
  gelu: "GELU(z) = z Φ(z)", identity: "identity(z) = z",
};
const OPTIMIZERS = ["sgd", "adam", "adamw", "rmsprop", "adagrad"];
const MAX_LAYERS = 8, MAX_UNITS = 32, MAX_UPLOAD = 2 * 1024 * 1024;

const $ = id => document.getElementById(id);
const page = { id: null, settings: null, data: null, frame: null, lastSeq: 0, source: null,
               stats: { frames: 0, times: [] }, explain: null, explainAt: 0 };
window.playground = page;                              // for tests and people who script it

// --- the URL holds the settings ------------------------------------------------------------

function fromQuery(search) {
  const query = new URLSearchParams(search), settings = {};
  for (const [key, text] of query) {
    if (key in LISTS) settings[key] = text === "" ? [] : text.split(",").map(LISTS[key]);
    else if (NUMBERS.includes(key)) settings[key] = Number(text);
    else if (key === "bn") settings[key] = text === "1" || text === "true";
    else if (key === "preset" || key === "dataset" || key === "opt" || key === "problem") settings[key] = text;
  }
  return settings;
}

function toQuery(s) {
  if (s.preset === "blog") return `?preset=blog&seed=${s.seed}` + (s.epochs ? `&epochs=${s.epochs}` : "");
  const keys = ["dataset", "seed", "samples", "noise", "ratio", "classes", "batch", "features", "layers", "act",
                "lr", "opt", "l1", "l2", "dropout", "bn", "epochs", "problem", "plot"];
  return "?" + keys.map(key => {
    const value = s[key];
    return `${key}=${Array.isArray(value) ? value.join(",") : typeof value === "boolean" ? (value ? 1 : 0) : value}`;
  }).join("&");
}

// --- talking to the server -------------------------------------------------------------------

async function call(method, url, body, type = "application/json") {
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.body = typeof body === "string" ? body : JSON.stringify(body);
    options.headers["Content-Type"] = type;
  }
  const response = await fetch(url, options);
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error || response.statusText);
  return answer;
}

async function start(settings) {
  let answer;
  try {
    answer = await call("POST", "/api/session", settings);
  } catch (error) {
    say(`${error.message} (the defaults are shown instead)`);
    answer = await call("POST", "/api/session", {});
  }
  page.id = answer.id;
  page.lastSeq = 0;
  render(answer.frame);
  listen();
}

function listen() {                                    // the event stream: frames while playing
  if (page.source) page.source.close();
  page.source = new EventSource(`/api/session/${page.id}/events`);
  page.source.onmessage = event => render(JSON.parse(event.data), true);
  page.source.onerror = () => { if (page.source.readyState === EventSource.CLOSED) say("the server has gone"); };
}

async function command(action, extra = {}) {
  try {
    render(await call("POST", `/api/session/${page.id}/command`, { action, ...extra }));
  } catch (error) {
    say(error.message);
  }
}

function configure(changes) {                          // any control: new settings, epoch 0
  const settings = { ...page.settings, ...changes };
  if (settings.preset === "blog" && !("seed" in changes && Object.keys(changes).length === 1)
      && !("epochs" in changes && Object.keys(changes).length === 1)) settings.preset = "";
  command("configure", { settings: clean(settings) });
}

function clean(settings) {                             // what the server takes (no derived keys)
  const keys = ["preset", "seed", "dataset", "samples", "noise", "ratio", "classes", "batch", "features", "layers",
                "act", "lr", "opt", "l1", "l2", "dropout", "bn", "epochs", "problem", "plot"];
  const out = {};
  for (const key of keys) if (key in settings) out[key] = settings[key];
  if (out.preset === "blog") return { preset: "blog", seed: out.seed, epochs: out.epochs };
  return out;
}

function say(text) { $("message").textContent = text || ""; }

// --- drawing a frame -------------------------------------------------------------------------

function render(frame, streamed = false) {
  if (frame.seq <= page.lastSeq) return;               // an older answer arriving late
  page.lastSeq = frame.seq;
  if (frame.data) {
    page.data = frame.data;
    page.settings = frame.data.settings;
    history.replaceState(null, "", toQuery(page.settings));
    showSettings();
  }
  page.frame = frame;
  if (streamed) count();
  $("epoch").textContent = String(frame.epoch);
  $("loss-train").textContent = format(frame.loss_train);
  $("loss-test").textContent = format(frame.loss_test);
  $("play").hidden = frame.playing;
  $("pause").hidden = !frame.playing;
  $("server-fps").textContent = frame.fps.toFixed(1);
  $("server-eps").textContent = frame.eps.toFixed(0);
  if (frame.error) say(frame.error);
  Draw.outputMap($("heatmap"), frame.grid);
  Draw.points($("heatmap"), frame.grid, page.data, $("show-test").checked);
  Draw.chart($("chart"), frame.history);
  Network.update(frame);
  gradientStats(frame.stats);
}

function format(value) { return value === null || value === undefined ? "—" : value.toFixed(6); }

function count() {                                     // the page's own frames per second
  const now = performance.now(), times = page.stats.times;
  page.stats.frames += 1;
  times.push(now);
  while (times.length && times[0] < now - 2000) times.shift();
  const fps = times.length > 1 ? (times.length - 1) / ((times[times.length - 1] - times[0]) / 1000) : 0;
  page.stats.fps = fps;
  $("page-fps").textContent = fps.toFixed(1);
}

function gradientStats(stats) {
  const rows = Object.keys(stats).filter(key => key.startsWith("update_ratio/") && key.endsWith(".weight"));
  $("grad-stats").innerHTML = "";
  for (const key of rows) {
    const name = key.split("/")[1], ratio = stats[key], grad = stats[`grad_norm/${name}`];
    if (ratio === null || grad === null) continue;
    const width = ratio > 0 ? Math.max(2, Math.min(100, 100 + 20 * Math.log10(ratio))) : 0;
    const row = document.createElement("div");
    row.className = "stat";
    row.title = `layer ${name}: ||dL/dW|| = ${grad.toPrecision(3)}, ||ΔW||/||W|| = ${ratio.toPrecision(3)}`;
    const [label, bar, value] = ["span", "i", "span"].map(tag => document.createElement(tag));
    label.textContent = name; value.textContent = ratio.toExponential(1);
    bar.style.width = `${width}px`;                    // CSSOM, which the page's CSP allows
    row.append(label, bar, value);
    $("grad-stats").appendChild(row);
  }
}

// --- the controls ------------------------------------------------------------------------------

function options(select, values, label = String) {
  select.innerHTML = "";
  for (const value of values) {
    const option = document.createElement("option");
    option.value = value; option.textContent = label(value);
    if (ACTIVATIONS[value]) option.title = ACTIVATIONS[value];
    select.appendChild(option);
  }
}

function setValue(select, value) {
  if (![...select.options].some(option => option.value === String(value))) {
    const option = document.createElement("option");
    option.value = option.textContent = String(value);
    select.appendChild(option);
  }
  select.value = String(value);
}

function showSettings() {
  const s = page.settings;
  document.querySelectorAll("#datasets button").forEach(button => {
    button.classList.toggle("on", button.dataset.name === s.dataset);
    button.hidden = button.dataset.name === "csv" && !page.data.columns.length;
  });
  document.querySelectorAll("#features button").forEach(button =>
    button.classList.toggle("on", s.features.includes(button.dataset.name)));
  $("features").classList.toggle("off", s.dataset === "csv");
  for (const key of ["lr", "opt", "l1", "l2", "problem", "classes", "samples", "dropout"]) setValue($(key), s[key]);
  $("budget").value = s.epochs; $("seed").value = s.seed; $("bn").checked = s.bn;
  $("ratio").value = Math.round(s.ratio * 100); $("ratio-value").textContent = `${Math.round(s.ratio * 100)}%`;
  $("noise").value = Math.round(s.noise * 100); $("noise-value").textContent = s.noise.toFixed(2);
  $("batch").value = s.batch; $("batch-value").textContent = s.batch ? String(s.batch) : "all";
  $("layer-count").textContent = `${s.layers.length} hidden layer${s.layers.length === 1 ? "" : "s"}`;
  options($("plot-x"), page.data.columns.map((_, i) => i), i => page.data.columns[i]);
  options($("plot-y"), page.data.columns.map((_, i) => i), i => page.data.columns[i]);
  $("plot-x").value = page.data.plot[0]; $("plot-y").value = page.data.plot[1];
  for (const [id, path] of [["export-model", "model.npz"], ["export-data", "data.csv"], ["export-code", "code.py"]])
    $(id).href = `/api/${path}?session=${page.id}`;
  layerControls(s);
}

function layerControls(s) {
  const box = $("layer-controls");
  box.innerHTML = "";
  s.layers.forEach((units, k) => {
    const column = document.createElement("div");
    column.className = "layer";
    column.innerHTML = `<button data-testid="remove-unit-${k}" title="one neuron fewer">&minus;</button>` +
      `<span data-testid="units-${k}">${units}</span><button data-testid="add-unit-${k}" title="one neuron more">+</button>`;
    const select = document.createElement("select");
    select.dataset.testid = `act-${k}`;
    options(select, Object.keys(ACTIVATIONS));
    select.value = s.act[k];
    select.onchange = () => configure({ act: s.act.map((a, i) => i === k ? select.value : a) });
    column.appendChild(select);
    const [fewer, , more] = column.children;
    fewer.onclick = () => units > 1 && configure({ layers: s.layers.map((u, i) => i === k ? u - 1 : u) });
    more.onclick = () => units < MAX_UNITS && configure({ layers: s.layers.map((u, i) => i === k ? u + 1 : u) });
    box.appendChild(column);
  });
}

function wire() {
  options($("lr"), [0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10]);
  options($("opt"), OPTIMIZERS);
  options($("l1"), [0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1]);
  options($("l2"), [0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1]);
  options($("classes"), [2, 3, 4, 5, 6, 7, 8]);
  options($("samples"), [100, 200, 400, 800, 1000, 2000]);
  options($("dropout"), [0, 0.1, 0.2, 0.3, 0.5]);
  for (const [name, label] of DATASETS) {
    const button = document.createElement("button");
    button.dataset.name = name; button.dataset.testid = `dataset-${name}`; button.textContent = label;
    button.onclick = () => configure({ dataset: name });
    $("datasets").appendChild(button);
  }
  for (const [name, label] of FEATURES) {
    const button = document.createElement("button");
    button.dataset.name = name; button.dataset.testid = `feature-${name}`; button.textContent = label;
    button.onclick = () => {
      const now = page.settings.features, next = now.includes(name) ? now.filter(f => f !== name) : [...now, name];
      if (next.length) configure({ features: FEATURES.map(([f]) => f).filter(f => next.includes(f)) });
    };
    $("features").appendChild(button);
  }
  $("play").onclick = () => command("play");
  $("pause").onclick = () => command("pause");
  $("step").onclick = () => command("step");
  $("reset").onclick = () => command("reset");
  const number = id => Number($(id).value);
  $("lr").onchange = () => configure({ lr: number("lr") });
  $("opt").onchange = () => configure({ opt: $("opt").value, l2: ["sgd", "adam", "adamw"].includes($("opt").value) ? page.settings.l2 : 0 });
  $("l1").onchange = () => configure({ l1: number("l1") });
  $("l2").onchange = () => configure({ l2: number("l2") });
  $("problem").onchange = () => configure({ problem: $("problem").value });
  $("classes").onchange = () => configure({ classes: number("classes") });
  $("samples").onchange = () => configure({ samples: number("samples") });
  $("dropout").onchange = () => configure({ dropout: number("dropout") });
  $("bn").onchange = () => configure({ bn: $("bn").checked });
  $("budget").onchange = () => configure({ epochs: Math.max(0, Math.round(number("budget"))) });
  $("seed").onchange = () => configure({ seed: Math.max(0, Math.round(number("seed"))) });
  $("ratio").onchange = () => configure({ ratio: number("ratio") / 100 });
  $("noise").onchange = () => configure({ noise: number("noise") / 100 });
  $("batch").onchange = () => configure({ batch: number("batch") });
  $("plot-x").onchange = $("plot-y").onchange = () => configure({ plot: [number("plot-x"), number("plot-y")] });
  $("show-test").onchange = () => page.frame && render({ ...page.frame, seq: page.lastSeq + 0.5 });
  $("add-layer").onclick = () => {
    const s = page.settings;
    if (s.layers.length < MAX_LAYERS) configure({ layers: [...s.layers, 2], act: [...s.act, s.act[s.act.length - 1] || "tanh"] });
  };
  $("remove-layer").onclick = () => {
    const s = page.settings;
    if (s.layers.length) configure({ layers: s.layers.slice(0, -1), act: s.act.slice(0, -1) });
  };
  $("upload").onchange = upload;
  $("explain").onclick = explain;
  $("explain-prev").onclick = () => showExplain(page.explainAt + 1);
  $("explain-next").onclick = () => showExplain(page.explainAt - 1);
  $("surface").onclick = surface;
  window.addEventListener("pagehide", () => page.id && navigator.sendBeacon(`/api/session/${page.id}/close`));
}

async function upload() {
  const file = $("upload").files[0];
  if (!file) return;
  if (file.size > MAX_UPLOAD) return say(`the file is ${file.size} bytes; the limit is ${MAX_UPLOAD}`);
  try {
    render(await call("POST", `/api/upload?session=${page.id}`, await file.text(), "text/csv"));
    say(`${file.name}: ${page.data.train.length} training rows, ${page.data.test.length} test rows`);
  } catch (error) {
    say(error.message);
  }
  $("upload").value = "";
}

// --- looking closer ------------------------------------------------------------------------------

async function explain() {
  try {
    page.explain = await call("GET", `/api/explain?session=${page.id}`);
  } catch (error) {
    return say(error.message);
  }
  $("explain-panel").hidden = false;
  $("explain-text").textContent = page.explain.text;
  showExplain(page.explain.layers.length - 1);         // backpropagation starts at the output
}

function showExplain(k) {
  const layers = page.explain.layers;
  k = Math.max(0, Math.min(layers.length - 1, k));
  page.explainAt = k;
  const layer = layers[k], table = shown => `<span class="shape">(${shown.shape.join(", ")})</span>` +
    `<pre>${JSON.stringify(shown.values).replaceAll("],[", "],\n [")}</pre>`;
  $("explain-title").textContent = `layer ${k} of ${layers.length - 1}: ${layer.name} (loss ${page.explain.loss.toPrecision(6)})`;
  let html = `<h4>δ${k + 1} = dL/d(output of layer ${k})</h4>${table(layer.delta)}`;
  for (const [name, grad] of Object.entries(layer.gradients)) html += `<h4>dL/d${name}</h4>${table(grad)}`;
  html += `<h4>output a${k + 1}</h4>${table(layer.output)}`;
  $("explain-body").innerHTML = html;
}

async function surface() {
  $("surface-note").textContent = "computing…";
  $("surface-panel").hidden = false;
  try {
    const result = await call("GET", `/api/surface?session=${page.id}&resolution=21`);
    Draw.surface($("surface-canvas"), result);
    $("surface-note").textContent = `loss around the weights at epoch ${page.frame.epoch} (black dot), ` +
      (result.trajectory ? "on the plane the path took (red)" : "on two random directions");
  } catch (error) {
    $("surface-note").textContent = error.message;
  }
}

wire();
start(fromQuery(location.search));
