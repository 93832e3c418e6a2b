// The head flipper (attnviz/ui/head_flipper.py): the all-heads grid and one head of a long text, with
// every head of the chosen layer already in the browser, so moving between heads draws at once. The
// server is told afterwards (state "pick"), so the sliders, the link and the other views follow.
// All text is set with textContent: tokens are never read as HTML.

const KEY = "__attnvizFlipper";
const GRID_MAX_PX = 1200;

export default function (component) {
  const { parentElement, data, setStateValue } = component;
  const root = parentElement.querySelector(".flipper");
  const flipper = root[KEY] || (root[KEY] = makeFlipper(root));
  flipper.update(data, setStateValue);
}

function makeFlipper(root) {
  const find = (selector) => root.querySelector(selector);
  const gridImage = find(".grid img");
  const outline = find(".grid .outline");
  const headImage = find(".head img");
  const canvas = document.createElement("canvas");
  const self = {
    data: null, send: null, layer: 0, head: 0, sent: null, count: 0,
    base: Math.random().toString(36).slice(2), preloaded: new Map(), pixels: null, colours: new Map(),
  };

  // ---------------------------------------------------------------- drawing what is chosen
  function placeOutline() {
    const g = self.data.grid;  // blocks of block_w x block_h pixels, gap pixels apart
    outline.style.left = `${(100 * self.head * (g.block_w + g.gap)) / g.width}%`;
    outline.style.top = `${(100 * self.layer * (g.block_h + g.gap)) / g.height}%`;
    outline.style.width = `${(100 * g.block_w) / g.width}%`;
    outline.style.height = `${(100 * g.block_h) / g.height}%`;
  }

  function show(layer, head) {
    const d = self.data;
    self.layer = layer;
    self.head = head;
    placeOutline();
    root.querySelectorAll(".heads button").forEach((b, h) => b.setAttribute("aria-pressed", String(h === head)));
    const here = layer === d.layer;  // the pictures of another layer come with the server's answer
    find(".head-title").textContent = `Layer ${layer}, head ${head}` + (here ? "" : " (loading…)");
    root.classList.toggle("loading", !here);
    if (!here) return;
    headImage.src = d.heads[head];
    headImage.alt = `attention pattern of layer ${layer}, head ${head}`;
    find(".bar-top").textContent = d.tops[head].toFixed(3);
    find(".readout").textContent = d.hint;
    self.pixels = null;
    announce();
  }

  function announce() {  // the line and query/key views (layer_views.js) follow the head shown here
    const pending = self.sent !== null && self.data.nonce !== self.sent;
    window.__attnvizShown = { ...(window.__attnvizShown || {}),
                              [self.data.prefix]: { layer: self.layer, head: self.head, pending } };
    window.dispatchEvent(new CustomEvent("attnviz:head",
      { detail: { prefix: self.data.prefix, layer: self.layer, head: self.head } }));
  }

  function pick(layer, head) {
    const d = self.data;
    layer = Math.max(0, Math.min(d.n_layers - 1, layer));
    head = Math.max(0, Math.min(d.n_heads - 1, head));
    if (layer === self.layer && head === self.head) return;
    show(layer, head);
    self.sent = `${self.base}-${++self.count}`;
    self.send("pick", { layer, head, nonce: self.sent });
  }

  // ---------------------------------------------------------------- the readouts
  function position(event, image, rows, cols) {
    const box = image.getBoundingClientRect();
    const x = Math.floor(((event.clientX - box.left) / box.width) * cols);
    const y = Math.floor(((event.clientY - box.top) / box.height) * rows);
    return [Math.max(0, Math.min(rows - 1, y)), Math.max(0, Math.min(cols - 1, x))];
  }

  function gridHead(event) {
    const g = self.data.grid;
    const [y, x] = position(event, gridImage, g.height, g.width);
    return [Math.min(g.n_layers - 1, Math.floor(y / (g.block_h + g.gap))),
            Math.min(g.n_heads - 1, Math.floor(x / (g.block_w + g.gap)))];
  }

  function weightAt(query, key) {
    // the pixel's colour names its level: weight ~ level / (levels - 1) x the head's top
    if (!self.pixels) {
      if (!headImage.complete || !headImage.naturalWidth) return null;
      canvas.width = headImage.naturalWidth;
      canvas.height = headImage.naturalHeight;
      const context = canvas.getContext("2d", { willReadFrequently: true });
      context.drawImage(headImage, 0, 0);
      self.pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
    }
    const at = 4 * (query * canvas.width + key);
    const level = self.colours.get(`${self.pixels[at]},${self.pixels[at + 1]},${self.pixels[at + 2]}`);
    if (level === undefined) return null;
    return (level / (self.data.levels - 1)) * self.data.tops[self.head];
  }

  function readHead(event) {
    const d = self.data;
    if (self.layer !== d.layer) return;
    const [query, key] = position(event, headImage, d.queries.length, d.keys.length);
    const weight = weightAt(query, key);
    const step = d.tops[self.head] / (d.levels - 1) / 2;
    find(".readout").textContent = `query #${query} ${d.queries[query]} → key #${key} ${d.keys[key]}: ` +
      (weight === null ? "weight in the downloads" : `weight ≈ ${weight.toFixed(4)} (± ${step.toFixed(4)})`);
  }

  // ---------------------------------------------------------------- events
  gridImage.addEventListener("click", (event) => pick(...gridHead(event)));
  gridImage.addEventListener("mousemove", (event) => {
    const [layer, head] = gridHead(event);
    find(".grid-readout").textContent = `layer ${layer}, head ${head}: click to look closer`;
  });
  const gridHint = find(".grid-readout").textContent;
  gridImage.addEventListener("mouseleave", () => { find(".grid-readout").textContent = gridHint; });
  headImage.addEventListener("mousemove", readHead);
  headImage.addEventListener("click", readHead);  // a tap on a phone
  headImage.addEventListener("load", () => { self.pixels = null; });
  root.addEventListener("keydown", (event) => {
    const moves = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] };
    const move = moves[event.key];
    if (!move || !self.data) return;
    event.preventDefault();
    pick(self.layer + move[0], self.head + move[1]);
  });

  // ---------------------------------------------------------------- a new answer from the server
  self.update = (data, send) => {
    const first = self.data === null;
    self.data = data;
    self.send = send;
    if (first || self.colours.size !== data.palette.length) {
      self.colours = new Map(data.palette.map((hex, level) => [
        [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)).join(","), level]));
      find(".bar").style.background = `linear-gradient(to right, ${data.palette.join(", ")})`;
    }
    const grid = find(".grid");
    const labelled = `${data.grid.n_layers}x${data.grid.n_heads}`;
    if (grid.dataset.labelled !== labelled) {  // L0.. beside the rows, H0.. over the columns
      grid.dataset.labelled = labelled;
      grid.querySelectorAll(".tick").forEach((t) => t.remove());
      const g = data.grid;
      const tick = (text, side, at) => {
        const label = document.createElement("span");
        label.className = `tick ${side}`;
        label.textContent = text;
        label.style[side === "top" ? "left" : "top"] = `${at}%`;
        grid.appendChild(label);
      };
      for (let h = 0; h < g.n_heads; h++) tick(`H${h}`, "top", (100 * (h * (g.block_w + g.gap) + g.block_w / 2)) / g.width);
      for (let l = 0; l < g.n_layers; l++) tick(`L${l}`, "left", (100 * (l * (g.block_h + g.gap) + g.block_h / 2)) / g.height);
    }
    const row = find(".heads");
    if (row.querySelectorAll("button").length !== data.n_heads) {
      row.querySelectorAll("button").forEach((b) => b.remove());
      for (let h = 0; h < data.n_heads; h++) {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = String(h);
        button.title = `head ${h}`;
        button.addEventListener("click", () => pick(self.layer, h));
        row.appendChild(button);
      }
    }
    find(".grid-title").textContent = data.title;
    // a model of many layers would make the grid taller than a screen: at most GRID_MAX_PX tall
    find(".grid").style.maxWidth = `${(GRID_MAX_PX * data.grid.width) / data.grid.height}px`;
    if (gridImage.getAttribute("src") !== data.grid.url) gridImage.src = data.grid.url;
    gridImage.alt = `all ${data.n_layers * data.n_heads} heads, one block each`;
    headImage.style.aspectRatio = `${data.keys.length} / ${data.queries.length}`;
    // every head of the layer into the browser's cache, the chosen one first
    const order = [data.head, ...data.heads.keys()].filter((h, i, all) => all.indexOf(h) === i);
    for (const h of order) {
      const url = data.heads[h];
      if (!self.preloaded.has(url)) {
        const image = new Image();
        image.src = url;
        self.preloaded.set(url, image);
      }
    }
    if (self.preloaded.size > 4 * data.n_heads) {  // keep the last few layers only
      const keep = new Set(data.heads);
      for (const url of [...self.preloaded.keys()].slice(0, self.preloaded.size - 2 * data.n_heads)) {
        if (!keep.has(url)) self.preloaded.delete(url);
      }
    }
    // the server's layer and head win unless it has not yet heard of the user's latest pick
    if (first || self.sent === null || data.nonce === self.sent) show(data.layer, data.head);
    else if (self.layer === data.layer) show(self.layer, self.head);
    else announce();
  };
  return self;
}
