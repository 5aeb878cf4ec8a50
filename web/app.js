// The planners' web map: every department's layers from this server's vector
// tiles, a layer switcher by department, a legend, a cadastral number search
// and a panel for the selected plot, with the route check of an application
// for it (which departments must approve, by when).
//
// Test hooks: window.imgisMap is the MapLibre map; document.body.dataset.ready
// becomes "true" once the style and the first tiles are in ("error" if the
// map cannot start); window.imgisErrors collects tile, source and start-up errors.

import { ApiError, authHeaders, getJSON, parcelPath, setToken, token } from './js/api.js';
import { geometryBbox, toBounds, unionBbox } from './js/geometry.js';
import { renderLegend } from './js/legend.js';
import { Panel } from './js/panel.js';
import { RouteCheck } from './js/route.js';
import { buildStyle, KINDS, loadTemplates, SELECTION_SOURCE } from './js/style.js';
import { renderSwitcher } from './js/switcher.js';

const maplibregl = window.maplibregl;
window.imgisErrors = [];

const $ = (id) => document.getElementById(id);

function recordError(error) {
  window.imgisErrors.push(error);
  console.warn('imgis:', error);
}

function showStatus(message) {
  const status = $('status');
  status.textContent = message;
  status.hidden = false;
}

/** Zoom at which a searched plot is shown: close enough to read its neighbours. */
const PLOT_MIN_ZOOM = 16;
const PLOT_MAX_ZOOM = 18;

/**
 * Staff sign in with their API token: kept for this tab, sent with every
 * request to this server (tiles too), so internal layers and the route check
 * open up. The page starts anew after signing in or out.
 */
function setUpSignIn() {
  const form = $('signin');
  const signedIn = Boolean(token());
  form.dataset.signedIn = String(signedIn);
  $('token-button').textContent = signedIn ? 'Выйти' : 'Войти';
  $('signin-message').textContent = signedIn
    ? 'Вы вошли как сотрудник: видны внутренние слои и проверка маршрута.'
    : 'Без токена видны опубликованные слои.';
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (signedIn) {
      setToken(null);
    } else {
      const value = $('token-input').value.trim();
      if (!value) return;
      setToken(value);
    }
    window.location.reload();
  });
}

async function start() {
  if (!maplibregl) throw new Error('MapLibre GL JS не загружен (/web/vendor/maplibre-gl/maplibre-gl.js)');
  setUpSignIn();
  let lists;
  try {
    lists = await Promise.all([getJSON('/layers'), getJSON('/departments')]);
  } catch (e) {
    // A token the server no longer takes (revoked, mistyped): forget it and
    // start again as the public.
    if (e instanceof ApiError && e.status === 401 && token()) {
      setToken(null);
      window.location.reload();
      return;
    }
    throw e;
  }
  const [{ layers }, { departments }] = lists;
  const docs = await loadTemplates([...KINDS, ...layers.map((l) => l.kind)], (message) => {
    recordError({ kind: 'style', message });
  });
  const byCode = new Map(layers.map((l) => [l.code, l]));
  const visible = new Set(layers.map((l) => l.code));
  const cityBbox = unionBbox(layers.map((l) => l.bbox));

  const map = new maplibregl.Map({
    container: 'map',
    style: buildStyle(layers, docs),
    ...(cityBbox ? { bounds: toBounds(cityBbox), fitBoundsOptions: { padding: 24 } } : { center: [0, 0], zoom: 1 }),
    maxZoom: 20,
    attributionControl: { compact: true },
    // Tiles and TileJSON of internal layers need the staff member's token.
    transformRequest: (url) => ({ url, headers: authHeaders(url) }),
  });
  window.imgisMap = map;
  map.addControl(new maplibregl.NavigationControl({ visualizePitch: false }), 'top-right');
  map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-left');
  map.dragRotate.disable();
  map.touchZoomRotate.disableRotation();

  let loaded = false;
  map.on('error', (e) => {
    const error = {
      kind: e.sourceId ? 'source' : 'map',
      source: e.sourceId ?? null,
      tile: e.tile?.tileID?.canonical ? String(e.tile.tileID.canonical) : null,
      message: String(e.error?.message ?? e.error ?? 'unknown error'),
    };
    recordError(error);
    // Before the first load, an error that is not a source's means the style
    // itself was refused (a bad template): the map will not start.
    if (!loaded && !e.sourceId) {
      showStatus(`Стиль карты не принят: ${error.message}`);
      document.body.dataset.ready = 'error';
    }
  });

  /** Style layer ids of a server layer. */
  const styleLayersOf = (code) => map.getStyle().layers
    .filter((l) => l.metadata?.['imgis:layer'] === code)
    .map((l) => l.id);

  const parcelFillLayers = () => map.getStyle().layers
    .filter((l) => l.metadata?.['imgis:kind'] === 'parcels' && l.type === 'fill' && visible.has(l.metadata['imgis:layer']))
    .map((l) => l.id);

  const featureLayers = () => map.getStyle().layers
    .filter((l) => l.metadata?.['imgis:layer'] && l.type !== 'symbol' && visible.has(l.metadata['imgis:layer']))
    .map((l) => l.id);

  const legendBody = $('legend-body');
  const redrawLegend = () => renderLegend(legendBody, layers, docs, visible);

  const updateSwitcher = renderSwitcher($('layer-list'), {
    layers,
    departments,
    docs,
    visible,
    onToggle(codes, on) {
      for (const code of codes) {
        if (on) visible.add(code); else visible.delete(code);
        for (const id of styleLayersOf(code)) map.setLayoutProperty(id, 'visibility', on ? 'visible' : 'none');
      }
      redrawLegend();
    },
    onFit(layer) {
      if (Array.isArray(layer.bbox)) map.fitBounds(toBounds(layer.bbox), { padding: 32, maxZoom: PLOT_MAX_ZOOM });
    },
  });
  redrawLegend();
  map.on('zoomend', () => updateSwitcher(map.getZoom()));

  // The selected plot.
  const setSelection = (geometry) => {
    map.getSource(SELECTION_SOURCE)?.setData({
      type: 'FeatureCollection',
      features: geometry ? [{ type: 'Feature', geometry, properties: {} }] : [],
    });
  };
  const panel = new Panel($('panel'), $('panel-body'), $('panel-close'), () => {
    setSelection(null);
    map.resize();
  });
  /** Opens the panel, and lets the map take its new width before any camera move. */
  const openPanel = (show) => {
    const wasOpen = panel.isOpen;
    show();
    if (!wasOpen) map.resize();
  };

  // Only the latest request for the panel may fill it.
  let selectionToken = 0;
  // The route check keeps its own token: a check is asked after the plot is in.
  const routeCheck = new RouteCheck();

  async function loadConstraints(cadastral, token) {
    try {
      const answer = await getJSON(`${parcelPath(cadastral)}/constraints`);
      if (token === selectionToken) panel.showConstraints(cadastral, answer);
    } catch {
      // No constraints endpoint on this server (404), or no answer: the panel
      // shows the plot without them.
    }
  }

  function showFullParcel(feature, token) {
    if (token !== selectionToken) return;
    const cadastral = feature.properties?.cadastral;
    openPanel(() => panel.showParcel(cadastral, {
      properties: feature.properties,
      areaM2: feature.area_m2,
      layer: feature.layer,
      complete: true,
    }));
    setSelection(feature.geometry);
    loadConstraints(cadastral, token);
    // Only a stored plot (its full record is in) can be routed by its number.
    const routeSection = panel.routeSection(cadastral);
    if (routeSection) routeCheck.show(routeSection, cadastral);
  }

  /** A click on a plot: the tile's attributes at once, then the full record. */
  async function openParcelFromTile(properties) {
    const token = ++selectionToken;
    const cadastral = String(properties.cadastral);
    openPanel(() => panel.showParcel(cadastral, {
      properties,
      complete: false,
      note: 'Загрузка полных сведений…',
      noteState: 'busy',
    }));
    try {
      const feature = await getJSON(parcelPath(cadastral));
      showFullParcel(feature, token);
    } catch (e) {
      if (token !== selectionToken) return;
      panel.showParcel(cadastral, {
        properties,
        complete: false,
        note: `Полные сведения не получены: ${e.message}`,
        noteState: 'error',
      });
    }
  }

  /** Flies to a plot: its bbox fitted, at least PLOT_MIN_ZOOM, centred on it. */
  function flyToGeometry(geometry) {
    const box = geometryBbox(geometry);
    if (!box) return;
    const camera = map.cameraForBounds(toBounds(box), { padding: 48, maxZoom: PLOT_MAX_ZOOM });
    const center = camera?.center ?? [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2];
    const zoom = Math.min(PLOT_MAX_ZOOM, Math.max(PLOT_MIN_ZOOM, camera?.zoom ?? PLOT_MIN_ZOOM));
    map.flyTo({ center, zoom, essential: true, duration: 1500 });
  }

  // Search by cadastral number.
  const message = $('search-message');
  const say = (text, state) => {
    message.textContent = text;
    if (state) message.dataset.state = state; else delete message.dataset.state;
  };
  $('search').addEventListener('submit', async (event) => {
    event.preventDefault();
    const cadastral = $('search-input').value.trim();
    if (!cadastral) {
      say('Введите кадастровый номер, например 16:50:010203:15.', 'error');
      return;
    }
    const token = ++selectionToken;
    say('Поиск…', 'busy');
    try {
      const feature = await getJSON(parcelPath(cadastral));
      if (token !== selectionToken) return;
      say(`Найден участок ${feature.properties?.cadastral ?? cadastral}.`, 'ok');
      showFullParcel(feature, token);
      flyToGeometry(feature.geometry);
    } catch (e) {
      if (token !== selectionToken) return;
      if (e instanceof ApiError && e.code === 'malformed_cadastral_number') {
        say(`Неверный формат кадастрового номера «${cadastral}». Ожидается NN:NN:NNNNNN[N]:N…, например 16:50:010203:15.`, 'error');
      } else if (e instanceof ApiError && e.status === 404) {
        say(`Участок с кадастровым номером ${cadastral} не найден.`, 'error');
      } else {
        say(`Поиск не удался: ${e.message}`, 'error');
      }
    }
  });

  // Click: a plot opens the plot panel; any other object shows its attributes.
  map.on('click', (e) => {
    const parcels = parcelFillLayers();
    const hit = parcels.length ? map.queryRenderedFeatures(e.point, { layers: parcels })[0] : null;
    if (hit?.properties?.cadastral) {
      openParcelFromTile(hit.properties);
      return;
    }
    const box = [[e.point.x - 4, e.point.y - 4], [e.point.x + 4, e.point.y + 4]];
    const other = map.queryRenderedFeatures(box, { layers: featureLayers() })[0];
    if (other) {
      selectionToken += 1;
      setSelection(null);
      const layer = byCode.get(other.layer.metadata['imgis:layer']);
      openPanel(() => panel.showFeature(layer?.title ?? other.sourceLayer, other.properties));
    }
  });
  map.on('mousemove', (e) => {
    const parcels = parcelFillLayers();
    const over = parcels.length && map.queryRenderedFeatures(e.point, { layers: parcels }).length > 0;
    map.getCanvas().style.cursor = over ? 'pointer' : '';
  });

  map.once('load', () => {
    loaded = true;
    updateSwitcher(map.getZoom());
    map.once('idle', () => {
      document.body.dataset.ready = 'true';
    });
  });
}

start().catch((e) => {
  const text = e instanceof ApiError ? `${e.message} (${e.code})` : e.message;
  recordError({ kind: 'startup', message: text });
  showStatus(`Карта не загрузилась: ${text}`);
  document.body.dataset.ready = 'error';
});
