// The side panel: attributes of the selected plot (or of any other object),
// the plot's constraints when the server offers them, and a place for the
// route check (js/route.js fills it).

/** The parcel attributes, in the order planners read them. */
const PARCEL_FIELDS = ['address', 'district', 'permitted_use', 'land_category', 'ownership', 'area_m2'];

/** Russian names of the attributes of the city's layers; others show as they are. */
const FIELD_LABELS = {
  address: 'Адрес',
  district: 'Район',
  permitted_use: 'Вид разрешённого использования',
  land_category: 'Категория земель',
  ownership: 'Форма собственности',
  area_m2: 'Площадь по сведениям кадастра, м²',
  name: 'Наименование',
  kind: 'Вид',
  code: 'Код',
  category: 'Категория',
  network: 'Сеть',
  diameter_mm: 'Диаметр, мм',
  material: 'Материал',
  depth_m: 'Глубина заложения, м',
  flow: 'Режим',
  pressure: 'Давление',
  pressure_mpa: 'Давление, МПа',
  voltage_kv: 'Напряжение, кВ',
  placement: 'Прокладка',
  cable: 'Кабель',
  operator: 'Оператор',
  zone_type: 'Вид зоны',
  river: 'Водный объект',
  length_km: 'Протяжённость, км',
  width_m: 'Ширина, м',
  basis: 'Основание',
  enterprise: 'Предприятие',
  hazard_class: 'Класс опасности',
  object: 'Объект культурного наследия',
  reg_number: 'Регистрационный номер',
  significance: 'Категория историко-культурного значения',
  quarter: 'Кадастровый квартал',
  district_no: 'Номер района',
};

/** Russian words for the coded values of some attributes. */
const VALUE_LABELS = {
  ownership: { municipal: 'муниципальная', federal: 'федеральная', regional: 'региональная', private: 'частная' },
  network: {
    water: 'водопровод', sewer: 'канализация', gas: 'газопровод',
    power: 'электросеть', heat: 'теплосеть', telecom: 'связь',
  },
  material: { steel: 'сталь', polyethylene: 'полиэтилен', cast_iron: 'чугун', concrete: 'бетон' },
  flow: { gravity: 'самотёчная', pressure: 'напорная' },
  pressure: { low: 'низкое', medium: 'среднее', high: 'высокое' },
  placement: { overhead: 'воздушная', underground: 'подземная' },
  cable: { fibre: 'оптический', copper: 'медный' },
  category: { main: 'магистральная', local: 'местная' },
};

/** Zone types of the demo catalog, for constraints that carry only the code. */
const ZONE_TYPES = {
  water_protection: 'Водоохранная зона',
  shore_strip: 'Прибрежная защитная полоса',
  territorial: 'Территориальная зона',
  heritage_protection: 'Зона охраны объекта культурного наследия',
  sanitary_protection: 'Санитарно-защитная зона',
};

/** Properties that identify the feature and are shown elsewhere in the panel. */
const HIDDEN = new Set(['cadastral', 'id']);

function format(value) {
  if (value === null || value === undefined || value === '') return '—';
  if (typeof value === 'number') return value.toLocaleString('ru-RU', { maximumFractionDigits: 2 });
  if (typeof value === 'boolean') return value ? 'да' : 'нет';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** An element with properties and children; text goes in as text, never as HTML. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  node.append(...children);
  return node;
}

function attributeList(rows) {
  const dl = el('dl', { className: 'attributes' });
  for (const [key, label, value] of rows) {
    const dt = el('dt', { textContent: label });
    const dd = el('dd', { textContent: format(value) });
    dd.dataset.field = key;
    dl.append(dt, dd);
  }
  return dl;
}

/** One row of the attribute list: key, Russian label, value in words where known. */
function row(key, value) {
  const words = key === 'zone_type' ? ZONE_TYPES : VALUE_LABELS[key];
  return [key, FIELD_LABELS[key] ?? key, words?.[value] ?? value];
}

function parcelRows(properties, geodesicArea) {
  const rows = [];
  for (const key of PARCEL_FIELDS) {
    if (key in properties) rows.push(row(key, properties[key]));
  }
  if (Number.isFinite(geodesicArea)) rows.push(['geodesic_area_m2', 'Площадь по геометрии, м²', geodesicArea]);
  for (const [key, value] of Object.entries(properties)) {
    if (!HIDDEN.has(key) && !PARCEL_FIELDS.includes(key)) rows.push(row(key, value));
  }
  return rows;
}

/** One constraint of /parcels/{c}/constraints, read leniently. */
function constraintItem(c) {
  const zone = c.zone ?? {};
  const type = c.zone_type ?? zone.zone_type;
  const title = c.title ?? c.zone_type_name ?? c.name ?? zone.title ?? zone.name
    ?? ZONE_TYPES[type] ?? type ?? 'ограничение';
  const department = c.department?.name ?? c.department_name ?? c.department ?? zone.department;
  const share = c.overlap_percent ?? c.overlap_pct ?? c.share_percent;
  const parts = [];
  if (Number.isFinite(c.overlap_m2)) parts.push(`${format(c.overlap_m2)} м²`);
  if (Number.isFinite(share)) parts.push(`${format(share)} % участка`);
  if (department) parts.push(format(department));
  const layer = c.layer?.code ?? c.layer;
  if (layer) parts.push(`слой ${format(layer)}${c.layer?.version ? `, версия ${c.layer.version}` : ''}`);
  const li = el('li', {}, el('strong', { textContent: format(title) }));
  if (parts.length) li.append(el('span', { className: 'meta', textContent: parts.join(' · ') }));
  if (c.blocks_construction === true || c.blocking === true) li.classList.add('blocking');
  return li;
}

export class Panel {
  /**
   * `root` is the panel element (hidden when closed), `body` its content;
   * `onClose` runs after the planner closes it.
   */
  constructor(root, body, closeButton, onClose) {
    this.root = root;
    this.body = body;
    this.onClose = onClose;
    closeButton.addEventListener('click', () => this.close());
  }

  get isOpen() {
    return !this.root.hidden;
  }

  /** Opens the panel; returns true if it was closed (the map's width changed). */
  open() {
    const wasClosed = this.root.hidden;
    this.root.hidden = false;
    return wasClosed;
  }

  close() {
    if (this.root.hidden) return;
    this.root.hidden = true;
    this.body.replaceChildren();
    delete this.root.dataset.cadastral;
    this.onClose?.();
  }

  /**
   * Shows a plot. `feature` is either a tile feature's properties
   * (`complete: false`: what the tile carries) or the answer of
   * /parcels/{c} (`complete: true`).
   */
  showParcel(cadastral, { properties, areaM2, layer, complete, note, noteState }) {
    this.root.dataset.cadastral = cadastral;
    this.root.dataset.complete = String(Boolean(complete));
    const header = el('h2', { textContent: 'Земельный участок' });
    const number = el('p', { className: 'panel-cadastral', textContent: cadastral });
    number.dataset.cadastral = cadastral;
    const children = [header, number, attributeList(parcelRows(properties ?? {}, areaM2))];
    if (layer?.code) {
      const when = layer.updated_at ? ` от ${new Date(layer.updated_at).toLocaleString('ru-RU')}` : '';
      children.push(el('p', { className: 'panel-note', textContent: `Данные слоя «${layer.code}», версия ${layer.version}${when}.` }));
    }
    const status = el('p', { className: 'panel-note panel-status', textContent: note ?? '' });
    if (noteState) status.dataset.state = noteState;
    status.hidden = !note;
    const constraints = el('section', { className: 'panel-constraints' });
    constraints.hidden = true;
    const route = el('section', { className: 'panel-route' });
    route.hidden = true;
    children.push(status, constraints, route);
    this.body.replaceChildren(...children);
    this.open();
  }

  /** Shows the constraints list of the shown plot (only if the server has the endpoint). */
  showConstraints(cadastral, answer) {
    if (this.root.dataset.cadastral !== cadastral) return;
    const section = this.body.querySelector('.panel-constraints');
    if (!section) return;
    const list = Array.isArray(answer?.constraints) ? answer.constraints : [];
    const heading = el('h3', { textContent: 'Ограничения использования' });
    const content = list.length
      ? el('ul', { className: 'constraints' }, ...list.map(constraintItem))
      : el('p', { className: 'muted', textContent: 'Зон с особыми условиями, пересекающих участок, не найдено.' });
    section.replaceChildren(heading, content);
    section.hidden = false;
  }

  /**
   * The (empty, hidden) section for the route check of the shown plot, or
   * null when the panel shows something else now.
   */
  routeSection(cadastral) {
    if (this.root.dataset.cadastral !== cadastral) return null;
    return this.body.querySelector('.panel-route');
  }

  /** Shows any other object: its layer's title and all its attributes. */
  showFeature(layerTitle, properties) {
    delete this.root.dataset.cadastral;
    this.root.dataset.complete = 'true';
    const rows = Object.entries(properties ?? {}).map(([k, v]) => row(k, v));
    this.body.replaceChildren(
      el('h2', { textContent: 'Объект' }),
      el('p', { className: 'panel-title', textContent: layerTitle }),
      rows.length ? attributeList(rows) : el('p', { className: 'muted', textContent: 'Атрибутов нет.' }),
    );
    this.open();
  }
}
