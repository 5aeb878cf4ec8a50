// Builds the MapLibre style from the server's layers and the style templates
// of tiles/styles/ (served at /styles/{kind}.json).
//
// A template document holds `templates`, tried in order for each layer; the
// first whose `match` fits is used. `match.codes` lists layer codes,
// `match.geometry` lists geometry classes ("point", "line", "polygon"); an
// empty match fits every layer. A template's `layers` are MapLibre style layers
// without id, source and source-layer: those are filled in here, one vector
// source per server layer (its TileJSON), one MVT layer named by the code.

import { absolute, getJSON } from './api.js';

/** The kinds of /layers, each with its template document. */
export const KINDS = ['parcels', 'utilities', 'zones', 'other'];

/** Used when a kind's document cannot be loaded: every geometry, in grey. */
const FALLBACK = {
  title: 'Прочие слои',
  templates: [{
    match: {},
    legend: [{ label: 'Объекты слоя', shape: 'fill', color: '#dee2e6', stroke: '#495057' }],
    layers: [
      { id: 'fill', type: 'fill', paint: { 'fill-color': '#dee2e6', 'fill-opacity': 0.5 } },
      { id: 'line', type: 'line', paint: { 'line-color': '#495057', 'line-width': 1 } },
      { id: 'point', type: 'circle', paint: { 'circle-color': '#495057', 'circle-radius': 4 } },
    ],
  }],
};

/** The source and style layers that draw the selected plot, above all layers but labels. */
export const SELECTION_SOURCE = 'imgis-selection';

/**
 * Loads the template document of every kind in `kinds`. A document that fails
 * to load is reported through `onError` and replaced by the fallback, so one
 * bad file does not blank the map.
 */
export async function loadTemplates(kinds, onError) {
  const docs = new Map();
  await Promise.all([...new Set(kinds)].map(async (kind) => {
    try {
      const doc = await getJSON(`/styles/${encodeURIComponent(kind)}.json`);
      if (!Array.isArray(doc.templates)) throw new Error('no "templates" array');
      docs.set(kind, doc);
    } catch (e) {
      onError(`стиль «${kind}» не загружен: ${e.message}`);
      docs.set(kind, FALLBACK);
    }
  }));
  return docs;
}

/** "point", "line" or "polygon" for a geometry type of /layers; null for mixed. */
function geometryClass(type) {
  if (/Point/.test(type ?? '')) return 'point';
  if (/LineString/.test(type ?? '')) return 'line';
  if (/Polygon/.test(type ?? '')) return 'polygon';
  return null;
}

function matches(match = {}, layer) {
  if (match.codes && !match.codes.includes(layer.code)) return false;
  if (match.geometry) {
    const g = geometryClass(layer.geometry_type);
    if (g && !match.geometry.includes(g)) return false;
  }
  return true;
}

/** The template that styles `layer`, from its kind's document (or the fallback). */
export function templateFor(docs, layer) {
  const doc = docs.get(layer.kind) ?? docs.get('other') ?? FALLBACK;
  return doc.templates.find((t) => matches(t.match, layer))
    ?? FALLBACK.templates[0];
}

/** The style layer id of a template layer of a server layer. */
export function styleLayerId(code, templateLayerId) {
  return `${code}/${templateLayerId}`;
}

/**
 * The whole MapLibre style: a plain background (no basemap from the
 * internet: the city's own layers are the map), the layers in the drawing
 * order of /layers, the selected plot above them, and every label on top.
 */
export function buildStyle(layers, docs) {
  const sources = {};
  const shapes = [];
  const labels = [];
  for (const layer of layers) {
    sources[layer.code] = {
      type: 'vector',
      url: absolute(`/tiles/${encodeURIComponent(layer.code)}.json`),
    };
    const template = templateFor(docs, layer);
    template.layers.forEach((t, n) => {
      const { id, minzoom, ...rest } = t;
      const styleLayer = {
        ...structuredClone(rest),
        id: styleLayerId(layer.code, id ?? String(n)),
        source: layer.code,
        'source-layer': layer.code,
        metadata: { 'imgis:layer': layer.code, 'imgis:kind': layer.kind },
      };
      const min = Math.max(minzoom ?? 0, layer.minzoom ?? 0);
      if (min > 0) styleLayer.minzoom = min;
      (t.type === 'symbol' ? labels : shapes).push(styleLayer);
    });
  }
  sources[SELECTION_SOURCE] = { type: 'geojson', data: { type: 'FeatureCollection', features: [] } };
  const selection = [
    {
      id: `${SELECTION_SOURCE}/fill`,
      type: 'fill',
      source: SELECTION_SOURCE,
      paint: { 'fill-color': '#ffe3a3', 'fill-opacity': 0.55 },
    },
    {
      id: `${SELECTION_SOURCE}/outline`,
      type: 'line',
      source: SELECTION_SOURCE,
      layout: { 'line-join': 'round' },
      paint: { 'line-color': '#e8590c', 'line-width': 3 },
    },
  ];
  return {
    version: 8,
    name: 'imgis',
    // No "glyphs": MapLibre then draws label glyphs locally with the
    // browser's own fonts, so labels (Cyrillic included) work offline.
    sources,
    layers: [
      { id: 'background', type: 'background', paint: { 'background-color': '#e9ecef' } },
      ...shapes,
      ...selection,
      ...labels,
    ],
  };
}
