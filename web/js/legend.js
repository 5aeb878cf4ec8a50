// The legend: what the colours mean, per layer kind, for the layers that are
// on. Entries come from the style templates (`legend`), so the legend and the
// map are drawn from one source.

import { templateFor } from './style.js';

const SVG = 'http://www.w3.org/2000/svg';

const KIND_TITLES = {
  parcels: 'Земельные участки',
  utilities: 'Инженерные сети',
  zones: 'Зоны',
  other: 'Основа карты',
};

function svgElement(name, attrs) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  }
  return el;
}

/** A small picture of a legend entry: a filled square, a line or a dot. */
export function swatch(entry) {
  const svg = svgElement('svg', { width: 24, height: 14, viewBox: '0 0 24 14', class: 'swatch', 'aria-hidden': 'true' });
  const dash = entry.dash ? '4 2' : undefined;
  if (entry.shape === 'line') {
    const width = entry.width ?? 3;
    if (entry.stroke) {
      svg.append(svgElement('line', { x1: 2, y1: 7, x2: 22, y2: 7, stroke: entry.stroke, 'stroke-width': width + 2, 'stroke-linecap': 'round' }));
    }
    svg.append(svgElement('line', { x1: 2, y1: 7, x2: 22, y2: 7, stroke: entry.color, 'stroke-width': width, 'stroke-dasharray': dash, 'stroke-linecap': dash ? 'butt' : 'round' }));
  } else if (entry.shape === 'circle') {
    svg.append(svgElement('circle', { cx: 12, cy: 7, r: 5, fill: entry.color, stroke: entry.stroke ?? '#ffffff', 'stroke-width': 1.2 }));
  } else {
    svg.append(svgElement('rect', {
      x: 1.5, y: 1.5, width: 21, height: 11, rx: 1,
      fill: entry.color, 'fill-opacity': 0.75,
      stroke: entry.stroke ?? entry.color, 'stroke-width': 1.5, 'stroke-dasharray': dash,
    }));
  }
  return svg;
}

/**
 * Draws the legend into `container` for the layers whose codes are in
 * `visible`. An entry with `codes` is shown only while one of those layers is
 * on; equal entries from several layers are shown once.
 */
export function renderLegend(container, layers, docs, visible) {
  container.replaceChildren();
  const groups = new Map();
  for (const layer of layers) {
    if (!visible.has(layer.code)) continue;
    const template = templateFor(docs, layer);
    for (const entry of template.legend ?? []) {
      if (entry.codes && !entry.codes.some((c) => visible.has(c))) continue;
      if (!groups.has(layer.kind)) groups.set(layer.kind, new Map());
      const key = `${entry.label}|${entry.color}`;
      groups.get(layer.kind).set(key, entry);
    }
  }
  if (groups.size === 0) {
    const p = document.createElement('p');
    p.className = 'muted';
    p.textContent = 'Все слои выключены.';
    container.append(p);
    return;
  }
  for (const kind of [...Object.keys(KIND_TITLES), ...groups.keys()]) {
    const entries = groups.get(kind);
    if (!entries) continue;
    groups.delete(kind);
    const section = document.createElement('div');
    section.className = 'legend-group';
    section.dataset.kind = kind;
    const h = document.createElement('h3');
    h.textContent = KIND_TITLES[kind] ?? kind;
    const ul = document.createElement('ul');
    for (const entry of entries.values()) {
      const li = document.createElement('li');
      const text = document.createElement('span');
      text.textContent = entry.label;
      li.append(swatch(entry), text);
      ul.append(li);
    }
    section.append(h, ul);
    container.append(section);
  }
}
