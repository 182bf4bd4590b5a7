// The network drawing: a column per layer, each hidden unit its heatmap over the plane,
// each link coloured by its weight's sign and as thick as its size; hover a link for w and dL/dw.
"use strict";

const Network = (() => {
  const COLUMN = 120, HEIGHT = 400, SVG = "http://www.w3.org/2000/svg";
  let shape = "", links = [], canvases = [];

  function layout(sizes) {             // [inputs, hidden..., outputs] -> node centres and node size
    const most = Math.max(...sizes), node = Math.max(10, Math.min(40, Math.floor(HEIGHT / most) - 6));
    const step = node + 6;
    return { node, centres: sizes.map((n, i) => Array.from({ length: n }, (_, j) =>
      [30 + i * COLUMN, node / 2 + 14 + (most - n) * step / 2 + j * step])) };
  }

  function build(frame, names) {
    const box = document.getElementById("network"), dense = frame.dense;
    const sizes = [dense[0].w.length, ...dense.map(d => d.w[0].length)];
    const { node, centres } = layout(sizes);
    box.innerHTML = "";
    const width = 60 + (sizes.length - 1) * COLUMN, height = Math.max(...centres.flat().map(c => c[1])) + node;
    box.style.width = `${width}px`; box.style.height = `${height}px`;
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("width", width); svg.setAttribute("height", height);
    links = dense.map((layer, l) => layer.w.map((row, a) => row.map((_, b) => {
      const [x0, y0] = centres[l][a], [x1, y1] = centres[l + 1][b];
      const path = document.createElementNS(SVG, "path");
      path.setAttribute("d", `M${x0 + node / 2},${y0} C${(x0 + x1) / 2},${y0} ${(x0 + x1) / 2},${y1} ${x1 - node / 2},${y1}`);
      path.setAttribute("class", "link");
      path.dataset.testid = `link-${l}-${a}-${b}`;
      path.onmouseenter = event => hover(event, l, a, b);
      path.onmouseleave = () => { document.getElementById("tooltip").hidden = true; };
      svg.appendChild(path);
      return path;
    })));
    box.appendChild(svg);
    canvases = centres.map((column, i) => column.map(([x, y], j) => {
      const cell = document.createElement(i === 0 ? "div" : "canvas");
      cell.className = i === 0 ? "input" : "neuron";
      cell.style.left = `${x - node / 2}px`; cell.style.top = `${y - node / 2}px`;
      cell.style.width = cell.style.height = `${node}px`;
      if (i === 0) cell.textContent = names[j] || `x${j + 1}`;
      else { cell.width = cell.height = 16; cell.title = i === centres.length - 1 ? "output" : `layer ${i}, unit ${j}`; }
      box.appendChild(cell);
      return cell;
    }));
  }

  function hover(event, l, a, b) {     // the link's weight and its gradient at the last step
    const dense = window.playground.frame.dense[l], tip = document.getElementById("tooltip");
    tip.textContent = `w = ${dense.w[a][b].toFixed(6)}   dL/dw = ${dense.gw[a][b].toExponential(3)}` +
      `   (layer ${dense.index}: weight[${a}, ${b}])`;
    tip.style.left = `${event.offsetX + 12}px`; tip.style.top = `${event.offsetY + 12}px`;
    tip.hidden = false;
  }

  function update(frame) {
    const names = window.playground.data ? inputNames(window.playground.data) : [];
    const key = JSON.stringify([frame.dense.map(d => [d.w.length, d.w[0].length]), names]);
    if (key !== shape) { build(frame, names); shape = key; }
    frame.dense.forEach((layer, l) => layer.w.forEach((row, a) => row.forEach((w, b) => {
      const path = links[l][a][b];
      path.style.stroke = w >= 0 ? "rgb(8,119,189)" : "rgb(245,147,34)";
      path.style.strokeWidth = `${Math.min(8, 0.4 + 2 * Math.abs(w))}px`;
    })));
    frame.neurons.forEach((layer, k) => layer.forEach((map, j) => {
      const canvas = canvases[k + 1] && canvases[k + 1][j];
      if (canvas) Draw.neuronMap(canvas, map, frame.grid.neuron_size);
    }));
    const outputs = canvases[canvases.length - 1];
    if (outputs.length === 1 && frame.neurons.length < canvases.length - 1) {
      const small = outputs[0].getContext("2d"), big = document.getElementById("heatmap");
      small.drawImage(big, 0, 0, 16, 16);
    }
  }

  function inputNames(data) {
    const s = data.settings;
    return s.dataset === "csv" ? data.columns : s.features.map(f => f.replace("^2", "²").replace("sin_", "sin "));
  }

  return { update };
})();
