// Drawing for the scratchnn playground: heatmaps, points, the network, the loss chart.
// Plain canvas and SVG; every number comes from the server's frame (see app.js).
"use strict";

const Draw = (() => {
  const NEGATIVE = [245, 147, 34];     // orange: class 0, negative values
  const POSITIVE = [8, 119, 189];      // blue: class 1, positive values
  const WHITE = [232, 234, 237];
  const PALETTE = [[245, 147, 34], [8, 119, 189], [46, 160, 67], [214, 39, 40],
                   [148, 103, 189], [140, 86, 75], [227, 119, 194], [127, 127, 127]];

  function decode(base64) {            // the server's uint8 maps: base64 -> Uint8Array
    const text = atob(base64);
    const out = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
    return out;
  }

  function diverging(v) {              // v in [0, 1], 0.5 white: orange below, blue above
    const t = Math.abs(v - 0.5) * 2, end = v < 0.5 ? NEGATIVE : POSITIVE;
    return [0, 1, 2].map(k => Math.round(WHITE[k] + (end[k] - WHITE[k]) * t));
  }

  function pixels(ctx, size, colour) {  // a size x size image, colour(index) -> [r, g, b]
    const image = ctx.createImageData(size, size);
    for (let i = 0; i < size * size; i++) {
      const [r, g, b] = colour(i);
      image.data.set([r, g, b, 255], 4 * i);
    }
    return image;
  }

  function blit(canvas, image, size) { // draw a small image scaled up to fill the canvas
    const scratch = document.createElement("canvas");
    scratch.width = scratch.height = size;
    scratch.getContext("2d").putImageData(image, 0, 0);
    const ctx = canvas.getContext("2d");
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(scratch, 0, 0, canvas.width, canvas.height);
  }

  function outputMap(canvas, grid) {   // the network's output over the plane
    const ctx = canvas.getContext("2d"), size = grid.size;
    const values = decode(grid.values);
    let colour;
    if (grid.kind === "classes") {
      const classes = decode(grid.classes);
      colour = i => {
        const c = PALETTE[classes[i] % PALETTE.length], t = Math.max(0, (values[i] / 255 - 0.3) / 0.7);
        return [0, 1, 2].map(k => Math.round(WHITE[k] + (c[k] - WHITE[k]) * t));
      };
    } else {
      colour = i => diverging(values[i] / 255);
    }
    blit(canvas, pixels(ctx, size, colour), size);
  }

  function neuronMap(canvas, base64, size) {
    const values = decode(base64);
    blit(canvas, pixels(canvas.getContext("2d"), size, i => diverging(values[i] / 255)), size);
  }

  function points(canvas, grid, data, showTest) {  // train points filled, test points outlined
    const ctx = canvas.getContext("2d"), [x0, x1] = grid.x, [y0, y1] = grid.y;
    const px = x => (x - x0) / (x1 - x0) * canvas.width;
    const py = y => (y1 - y) / (y1 - y0) * canvas.height;
    const regression = data.problem === "regression";
    const [low, high] = regression ? [Math.min(...data.y_train), Math.max(...data.y_train)] : [0, 1];
    const colourOf = label => {
      if (regression) return diverging((label - low) / Math.max(high - low, 1e-12));
      if (data.classes > 2) return PALETTE[label % PALETTE.length];
      return label >= 0.5 ? POSITIVE : NEGATIVE;
    };
    const draw = (rows, labels, test) => rows.forEach(([x, y], i) => {
      const [r, g, b] = colourOf(labels[i]);
      ctx.beginPath();
      ctx.arc(px(x), py(y), data.train.length < 20 ? 7 : 3.5, 0, 2 * Math.PI);
      ctx.fillStyle = `rgb(${r},${g},${b})`;
      ctx.strokeStyle = test ? "#000" : "#fff";
      ctx.lineWidth = test ? 1.5 : 1;
      ctx.fill(); ctx.stroke();
    });
    draw(data.train, data.y_train, false);
    if (showTest) draw(data.test, data.y_test, true);
    ctx.fillStyle = "#444"; ctx.font = "11px sans-serif";
    ctx.fillText(`${data.names[0]} →`, canvas.width - 60, canvas.height - 4);
    ctx.save(); ctx.translate(10, 60); ctx.rotate(-Math.PI / 2); ctx.fillText(`${data.names[1]} →`, 0, 0); ctx.restore();
  }

  function chart(canvas, history) {    // [[epoch, train, test], ...]: train dark, test grey
    const ctx = canvas.getContext("2d"), w = canvas.width, h = canvas.height;
    ctx.clearRect(0, 0, w, h);
    const values = history.flatMap(([, a, b]) => [a, b]).filter(v => v !== null);
    if (history.length < 2 || !values.length) return;
    const top = Math.max(...values) || 1, last = history[history.length - 1][0] || 1;
    for (const [column, style] of [[2, "#999"], [1, "#222"]]) {
      ctx.beginPath(); ctx.strokeStyle = style; ctx.lineWidth = 1.5;
      history.forEach((row, i) => {
        if (row[column] === null) return;
        const x = row[0] / last * (w - 2) + 1, y = h - 2 - row[column] / top * (h - 4);
        i ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
      });
      ctx.stroke();
    }
  }

  function surface(canvas, result) {   // log-loss heatmap, the path so far, and w at (0, 0)
    const ctx = canvas.getContext("2d"), n = result.alphas.length;
    const logs = result.values.flat().filter(v => v !== null && v > 0).map(Math.log);
    const low = Math.min(...logs), high = Math.max(...logs);
    const image = pixels(ctx, n, i => {
      const v = result.values[i % n][n - 1 - Math.floor(i / n)];    // x: alpha, y: beta (up)
      if (v === null || v <= 0) return [255, 255, 255];
      return diverging(1 - 0.5 * (Math.log(v) - low) / Math.max(high - low, 1e-12));
    });
    blit(canvas, image, n);
    const [a0, a1] = [result.alphas[0], result.alphas[n - 1]], [b0, b1] = [result.betas[0], result.betas[n - 1]];
    const px = a => (a - a0) / (a1 - a0) * canvas.width, py = b => (b1 - b) / (b1 - b0) * canvas.height;
    if (result.trajectory) {
      ctx.beginPath(); ctx.strokeStyle = "#d62728"; ctx.lineWidth = 2;
      result.trajectory.forEach(([a, b], i) => i ? ctx.lineTo(px(a), py(b)) : ctx.moveTo(px(a), py(b)));
      ctx.stroke();
    }
    ctx.beginPath(); ctx.fillStyle = "#000"; ctx.arc(px(0), py(0), 4, 0, 2 * Math.PI); ctx.fill();
  }

  return { decode, diverging, outputMap, neuronMap, points, chart, surface, PALETTE };
})();
