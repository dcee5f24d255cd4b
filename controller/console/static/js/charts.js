// Small line charts drawn as plain SVG: one series, its latest value written next to it.

const NS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs) {
  const el = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  return el;
}

/** An SVG sparkline of `values` (oldest first) scaled to its own maximum (at least `floor`). */
export function sparkline(values, { label, unit = '', width = 160, height = 36, floor = 1 } = {}) {
  const last = values.length ? values[values.length - 1] : 0;
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, width, height, class: 'spark', role: 'img' });
  root.setAttribute('aria-label', `${label}: ${last}${unit}`);
  const title = svg('title', {});
  title.textContent = `${label}: ${last}${unit}`;
  root.append(title, svg('line', { x1: 0, y1: height - 1, x2: width, y2: height - 1, class: 'axis' }));
  if (values.length > 1) {
    const max = Math.max(floor, ...values);
    const step = width / (values.length - 1);
    const points = values.map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - (v / max) * (height - 6)).toFixed(1)}`);
    root.append(svg('polyline', { points: points.join(' '), class: 'line', fill: 'none' }));
  }
  return root;
}
