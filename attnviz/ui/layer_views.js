// The line and query/key views of a long text (attnviz/ui/layer_views.py), drawn in the browser from
// every head of the layer (attnviz/plots/layer_views.py's binaries), so they follow the head flipper's
// head at once (its "attnviz:head" event). Tokens are set with textContent only.

const KEY = "__attnvizViews";
const SVG = "http://www.w3.org/2000/svg";
const ROW_PX = 18;  // the line view: one row per token, as the plotly line view
const MAX_KEY_LABELS = 40;  // the query/key view names every k-th key beside the panels

export default function (component) {
  const { parentElement, data } = component;
  const root = parentElement.querySelector(".views");
  const views = root[KEY] || (root[KEY] = makeViews(root));
  views.update(data);
  return () => views.stop();
}

function svgElement(name, attributes) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  return element;
}

function halfToFloat(bits) {  // IEEE 754 half precision -> number
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

function makeViews(root) {
  // weights: the last softmax drawn ({layer, head, query, weights}), for a reader of the page (the tests)
  const self = { data: null, head: null, layer: null, loaded: new Map(), weights: null };
  const find = (selector) => root.querySelector(selector);

  async function load(url, parse) {  // each binary once (a URL names its content)
    if (!self.loaded.has(url)) {
      self.loaded.set(url, fetch(url).then((r) => {
        if (!r.ok) throw new Error(`${r.status} for ${url}`);
        return r.arrayBuffer();
      }).then(parse));
      if (self.loaded.size > 8) self.loaded.delete(self.loaded.keys().next().value);
    }
    return self.loaded.get(url);
  }

  function parseLines(buffer) {
    const nHeads = new Uint32Array(buffer, 0, 1)[0];
    const counts = new Uint32Array(buffer, 4, nHeads);
    const total = counts.reduce((a, b) => a + b, 0);
    const offset = 4 * (1 + nHeads);
    const weights = new Float32Array(buffer, offset, total);
    const queries = new Uint16Array(buffer, offset + 4 * total, total);
    const keys = new Uint16Array(buffer, offset + 6 * total, total);
    const heads = [];
    let start = 0;
    for (const count of counts) {
      heads.push({ weights: weights.subarray(start, start + count), queries: queries.subarray(start, start + count),
                   keys: keys.subarray(start, start + count) });
      start += count;
    }
    return heads;
  }

  function parseQueryKeys(buffer) {
    const [nHeads, nTokens, dHead, causal] = new Uint32Array(buffer, 0, 4);
    const half = new Uint16Array(buffer, 16);
    const values = new Float32Array(half.length);
    for (let i = 0; i < half.length; i++) values[i] = halfToFloat(half[i]);
    const size = nHeads * nTokens * dHead;
    return { nHeads, nTokens, dHead, causal: causal === 1, q: values.subarray(0, size), k: values.subarray(size) };
  }

  // ---------------------------------------------------------------- the line view
  function drawLines(heads) {
    const d = self.data;
    const view = d.lines;
    const box = find(".lines");
    const nRows = Math.max(d.queries.length, d.keys.length);
    const top = 30;
    const height = top + ROW_PX * nRows;
    let svg = box.querySelector("svg.line-view");
    if (!svg || svg.dataset.tokens !== d.token_id) {  // the token columns are drawn once per text
      box.querySelectorAll("svg.line-view").forEach((s) => s.remove());
      svg = svgElement("svg", { class: "line-view", width: "100%", height });
      svg.dataset.tokens = d.token_id;
      const column = (tokens, x, anchor) => tokens.forEach((token, i) => {
        const label = svgElement("text", { x, y: top + ROW_PX * (i + 0.5), "text-anchor": anchor,
                                           "dominant-baseline": "middle" });
        label.textContent = token;
        svg.appendChild(label);
      });
      column(d.queries, "33%", "end");
      column(d.keys, "67%", "start");
      const area = svgElement("svg", { class: "line-area", x: "35%", width: "30%", y: top, height: ROW_PX * nRows,
                                      viewBox: `0 0 1 ${nRows}`, preserveAspectRatio: "none" });
      svg.appendChild(area);
      box.appendChild(svg);
    }
    const area = svg.querySelector(".line-area");
    area.replaceChildren();
    const shown = [self.head, ...view.extra.filter((h) => h !== self.head)].sort((a, b) => a - b);
    for (const h of shown) {
      const lines = heads[h];
      view.bands.forEach((high, band) => {
        const low = band === 0 ? view.min_weight : view.bands[band - 1];
        let path = "";
        for (let i = 0; i < lines.weights.length; i++) {
          const w = lines.weights[i];
          if (w >= low && w < high) path += `M0 ${lines.queries[i] + 0.5}L1 ${lines.keys[i] + 0.5}`;
        }
        if (!path) return;
        area.appendChild(svgElement("path", { d: path, stroke: view.colours[h % view.colours.length], fill: "none",
                                             "stroke-width": 0.5 + 1.5 * band, "stroke-opacity": 0.25 + 0.18 * band,
                                             "vector-effect": "non-scaling-stroke", "data-head": h }));
      });
    }
    find(".lines-title").textContent = `${d.name}layer ${self.layer}, lines of head(s) ${shown.join(", ")}`;
    const legend = find(".lines-legend");
    legend.replaceChildren(...shown.map((h) => {
      const item = document.createElement("span");
      item.textContent = `━ head ${h}`;
      item.style.color = view.colours[h % view.colours.length];
      return item;
    }));
    const cut = shown.filter((h) => view.cut[h]);
    find(".lines-note").textContent = cut.length
      ? `Only the ${view.max_lines.toLocaleString()} strongest lines of head(s) ${cut.join(", ")} are drawn ` +
        "(pick one query token to see all of its lines)." : "";
  }

  // ---------------------------------------------------------------- the query/key view
  function colour(value, limit) {
    const palette = self.data.qk.palette;
    const at = Math.round(((value / limit + 1) / 2) * (palette.length - 1));
    return palette[Math.max(0, Math.min(palette.length - 1, at))];
  }

  function paint(canvas, rows, cols, valueAt, limit) {
    canvas.width = cols;
    canvas.height = rows;
    const context = canvas.getContext("2d");
    const image = context.createImageData(cols, rows);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const hex = colour(valueAt(r, c), limit);
        const at = 4 * (r * cols + c);
        image.data[at] = parseInt(hex.slice(1, 3), 16);
        image.data[at + 1] = parseInt(hex.slice(3, 5), 16);
        image.data[at + 2] = parseInt(hex.slice(5, 7), 16);
        image.data[at + 3] = 255;
      }
    }
    context.putImageData(image, 0, 0);
  }

  function stepLine(svg, values, rows, low, high) {  // one path: a step per key, from the zero line
    svg.replaceChildren();
    svg.setAttribute("viewBox", `0 0 1 ${rows}`);
    const x = (v) => (v - low) / (high - low);
    const zero = x(0);
    let path = `M${zero} 0`;
    values.forEach((v, j) => {
      const at = Number.isFinite(v) ? x(v) : zero;  // a hidden (later) key: no bar
      path += `L${at} ${j}L${at} ${j + 1}`;
    });
    path += `L${zero} ${rows}Z`;
    svg.appendChild(svgElement("path", { d: path, fill: svg.dataset.colour, "fill-opacity": 0.6, stroke: svg.dataset.colour,
                                         "vector-effect": "non-scaling-stroke", "stroke-width": 1 }));
    svg.appendChild(svgElement("line", { x1: zero, x2: zero, y1: 0, y2: rows, stroke: "#888",
                                         "vector-effect": "non-scaling-stroke", "stroke-width": 1 }));
  }

  function drawQueryKeys(qk) {
    const d = self.data;
    const query = Math.min(d.qk.query, qk.nTokens - 1);
    const h = self.head;
    const n = qk.nTokens;
    const dim = qk.dHead;
    const base = h * n * dim;
    const q = qk.q.subarray(base + query * dim, base + (query + 1) * dim);
    const keys = qk.k.subarray(base, base + n * dim);
    const scores = new Float32Array(n);
    let best = -Infinity;
    let productLimit = 1e-6;
    let limit = 1e-6;
    for (let i = 0; i < dim; i++) limit = Math.max(limit, Math.abs(q[i]));
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let i = 0; i < dim; i++) {
        const product = keys[j * dim + i] * q[i];
        sum += product;
        productLimit = Math.max(productLimit, Math.abs(product));
        limit = Math.max(limit, Math.abs(keys[j * dim + i]));
      }
      scores[j] = qk.causal && j > query ? -Infinity : sum / Math.sqrt(dim);
      best = Math.max(best, scores[j]);
    }
    const weights = new Float32Array(n);
    let total = 0;
    for (let j = 0; j < n; j++) { weights[j] = Math.exp(scores[j] - best); total += weights[j]; }
    for (let j = 0; j < n; j++) weights[j] /= total;
    self.weights = { layer: self.layer, head: h, query, weights: Array.from(weights) };
    paint(find(".qk-q"), 1, dim, (r, c) => q[c], limit);
    paint(find(".qk-k"), n, dim, (r, c) => keys[r * dim + c], limit);
    paint(find(".qk-product"), n, dim, (r, c) => keys[r * dim + c] * q[c], productLimit);
    const finite = Array.from(scores).filter(Number.isFinite);
    const low = Math.min(0, ...finite);
    const high = Math.max(1e-6, ...finite);
    stepLine(find(".qk-scores"), Array.from(scores), n, low, high);
    stepLine(find(".qk-weights"), Array.from(weights), n, 0, 1);
    find(".qk-score-range").textContent = `${low.toFixed(2)} to ${high.toFixed(2)}`;
    find(".qk-title").textContent =
      `Layer ${self.layer}, head ${h}: how ${d.keys[query]} (#${query}) scores every key (${dim} dimensions)`;
    const panel = find(".qk-panels");
    const tall = Math.max(300, Math.min(1280, 80 + 16 * n));  // as tall as the plotly view's panels
    for (const child of panel.children) child.style.height = `${tall}px`;
    const labels = find(".qk-labels");  // every k-th key named (at most MAX_KEY_LABELS), as the plotly view
    if (labels.dataset.tokens !== `${d.token_id}.${n}`) {
      labels.dataset.tokens = `${d.token_id}.${n}`;
      const step = Math.max(1, Math.ceil(n / MAX_KEY_LABELS));
      labels.replaceChildren();
      for (let j = 0; j < n; j += step) {
        const label = document.createElement("span");
        label.textContent = `#${j} ${d.keys[j]}`;
        label.style.top = `${(100 * (j + 0.5)) / n}%`;
        labels.appendChild(label);
      }
    }
    panel.onmousemove = panel.onclick = (event) => {  // a tap on a phone reads the same
      const rect = find(".qk-k").getBoundingClientRect();
      const j = Math.max(0, Math.min(n - 1, Math.floor(((event.clientY - rect.top) / rect.height) * n)));
      find(".qk-readout").textContent = `key #${j} ${d.keys[j]}: score ` +
        (Number.isFinite(scores[j]) ? scores[j].toFixed(3) : "hidden (a later token)") + `, weight ${weights[j].toFixed(4)}`;
    };
  }

  // ---------------------------------------------------------------- following the flipper
  async function draw() {
    const d = self.data;
    const stamp = (self.stamp = (self.stamp || 0) + 1);
    try {
      const [lines, qk] = await Promise.all([d.lines ? load(d.lines.url, parseLines) : null,
                                             d.qk ? load(d.qk.url, parseQueryKeys) : null]);
      if (stamp !== self.stamp) return;  // a newer head or answer came in meanwhile
      find(".lines-box").hidden = !lines;
      find(".qk-box").hidden = !qk;
      if (lines) drawLines(lines);
      if (qk) drawQueryKeys(qk);
      root.dataset.drawn = `${self.layer}.${self.head}`;
      find(".problem").textContent = "";
    } catch (error) {
      self.loaded.clear();  // the next answer from the server fetches again
      find(".problem").textContent = `These views could not be drawn (${error.message}); move the head or reload the page.`;
    }
  }

  const onHead = (event) => {
    const { prefix, layer, head } = event.detail;
    if (!self.data || prefix !== self.data.prefix || layer !== self.data.layer || head === self.head) return;
    self.head = head;
    draw();
  };
  self.update = (data) => {
    const before = self.data;
    self.data = data;
    self.layer = data.layer;
    // the flipper may already show a head the server has not heard of yet: follow the flipper
    const shown = (window.__attnvizShown || {})[data.prefix];
    const serverMoved = !before || before.head !== data.head || before.layer !== data.layer;
    const follow = shown && shown.layer === data.layer && (shown.pending || !serverMoved);
    self.head = follow ? shown.head : data.head;
    window.addEventListener("attnviz:head", onHead);  // again after a cleanup (the same listener is added once)
    draw();
  };
  self.stop = () => window.removeEventListener("attnviz:head", onHead);
  return self;
}
