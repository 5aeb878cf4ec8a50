// The layer switcher: the city's layers grouped by the department that owns
// them, each with a checkbox; a department's own checkbox turns all of its
// layers on or off.

import { swatch } from './legend.js';
import { templateFor } from './style.js';

const NO_DEPARTMENT = '';

function plural(n, one, few, many) {
  const m10 = n % 10;
  const m100 = n % 100;
  if (m10 === 1 && m100 !== 11) return one;
  if (m10 >= 2 && m10 <= 4 && (m100 < 12 || m100 > 14)) return few;
  return many;
}

/** The legend entry that stands for a layer: one made for its code, else the first general one. */
function layerSwatchEntry(template, code) {
  const legend = template.legend ?? [];
  return legend.find((e) => e.codes?.includes(code)) ?? legend.find((e) => !e.codes) ?? legend[0];
}

function layerTooltip(layer) {
  const n = layer.feature_count ?? 0;
  const lines = [
    layer.description,
    `${n.toLocaleString('ru-RU')} ${plural(n, 'объект', 'объекта', 'объектов')}, версия ${layer.version}`,
  ];
  if (layer.updated_at) lines.push(`обновлён ${new Date(layer.updated_at).toLocaleString('ru-RU')}`);
  return lines.filter(Boolean).join('\n');
}

/**
 * Renders the switcher into `container`.
 *
 * `onToggle(codes, visible)` is called when the planner switches layers;
 * `onFit(layer)` when they ask to see a whole layer. Returns `update(zoom)`,
 * which greys out the layers not drawn at that zoom.
 */
export function renderSwitcher(container, { layers, departments, docs, visible, onToggle, onFit }) {
  container.replaceChildren();
  const known = new Map(departments.map((d) => [d.code, d]));
  // The city's own departments first, then the external approvers (each in
  // the order of /departments), then layers without a known department.
  const ordered = [...departments.filter((d) => !d.external), ...departments.filter((d) => d.external)];
  const groups = new Map(ordered.map((d) => [d.code, []]));
  groups.set(NO_DEPARTMENT, []);
  for (const layer of layers) {
    const code = known.has(layer.department) ? layer.department : NO_DEPARTMENT;
    groups.get(code).push(layer);
  }

  const rows = [];
  for (const [deptCode, deptLayers] of groups) {
    if (deptLayers.length === 0) continue;
    const dept = known.get(deptCode);
    const fieldset = document.createElement('fieldset');
    fieldset.className = 'department';
    fieldset.dataset.department = deptCode;

    const legend = document.createElement('legend');
    const deptLabel = document.createElement('label');
    const deptBox = document.createElement('input');
    deptBox.type = 'checkbox';
    deptBox.className = 'department-toggle';
    const deptName = document.createElement('span');
    deptName.className = 'department-name';
    deptName.textContent = dept ? dept.name : 'Прочие слои';
    deptLabel.append(deptBox, deptName);
    if (dept?.external) {
      const ext = document.createElement('span');
      ext.className = 'external';
      ext.textContent = 'внешний';
      ext.title = 'Внешняя согласующая организация';
      deptLabel.append(ext);
    }
    legend.append(deptLabel);

    const ul = document.createElement('ul');
    const boxes = [];
    for (const layer of deptLayers) {
      const li = document.createElement('li');
      li.dataset.layer = layer.code;
      const label = document.createElement('label');
      label.title = layerTooltip(layer);
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.dataset.layer = layer.code;
      box.checked = visible.has(layer.code);
      const firstEntry = layerSwatchEntry(templateFor(docs, layer), layer.code);
      const title = document.createElement('span');
      title.className = 'layer-title';
      title.textContent = layer.title;
      label.append(box);
      if (firstEntry) label.append(swatch(firstEntry));
      label.append(title);
      const hint = document.createElement('span');
      hint.className = 'zoom-hint';
      hint.hidden = true;
      const fit = document.createElement('button');
      fit.type = 'button';
      fit.className = 'layer-fit';
      fit.textContent = '⤢';
      fit.title = 'Показать слой целиком';
      fit.setAttribute('aria-label', `Показать слой «${layer.title}» целиком`);
      fit.disabled = !Array.isArray(layer.bbox);
      fit.addEventListener('click', () => onFit(layer));
      li.append(label, hint, fit);
      ul.append(li);
      boxes.push(box);
      rows.push({ layer, li, hint });
      box.addEventListener('change', () => {
        onToggle([layer.code], box.checked);
        syncDepartment();
      });
    }

    const syncDepartment = () => {
      const on = boxes.filter((b) => b.checked).length;
      deptBox.checked = on === boxes.length;
      deptBox.indeterminate = on > 0 && on < boxes.length;
    };
    deptBox.addEventListener('change', () => {
      for (const b of boxes) b.checked = deptBox.checked;
      onToggle(boxes.map((b) => b.dataset.layer), deptBox.checked);
      syncDepartment();
    });
    syncDepartment();

    fieldset.append(legend, ul);
    container.append(fieldset);
  }

  return function update(zoom) {
    for (const { layer, li, hint } of rows) {
      const below = Number.isFinite(layer.minzoom) && zoom < layer.minzoom;
      li.classList.toggle('out-of-range', below);
      hint.hidden = !below;
      hint.textContent = below ? `с ${layer.minzoom} ур.` : '';
      hint.title = below ? `Слой виден при приближении с уровня ${layer.minzoom}` : '';
    }
  };
}
