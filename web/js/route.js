// The route check of the plot panel («Согласования»): for a service or a life
// situation of the catalog, which departments must act on an application at
// this plot, how, why and by when. It asks POST /route, a dry run: nothing is
// registered, so the intake clerk can check a plot before taking the papers.
//
// Every text of the server goes into the page as text (el() sets textContent),
// never as HTML.

import { getJSON, postJSON } from './api.js';
import { el } from './panel.js';

/** What a department does, in the words of the city's regulations. */
const ACTIONS = { approve: 'согласование', consult: 'консультация', block: 'запрет' };

const DEADLINE_KINDS = { working: 'раб. дн.', calendar: 'календ. дн.' };

/** Select values carry the kind of target, as POST /route names its field. */
const SERVICE = 'service';
const LIFE_SITUATION = 'life_situation';

/** `YYYY-MM-DD` as dd.mm.yyyy; split by hand, since a Date would shift it by the time zone. */
export function formatDate(iso) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(String(iso ?? ''));
  return m ? `${m[3]}.${m[2]}.${m[1]}` : String(iso ?? '—');
}

/** Today in the clerk's own time zone, as a date input takes it (toISOString would give UTC's day). */
function today() {
  const d = new Date();
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

function squareMetres(value) {
  return `${value.toLocaleString('ru-RU', { minimumFractionDigits: 1, maximumFractionDigits: 1 })} м²`;
}

function deadlineText(deadline) {
  if (!deadline) return '';
  return `${deadline.days} ${DEADLINE_KINDS[deadline.kind] ?? deadline.kind}`;
}

function option(value, text, title) {
  const o = el('option', { value, textContent: text });
  if (title) o.title = title;
  return o;
}

/** The select of targets: services and life situations in two groups, as the catalog lists them. */
function targetSelect(catalog, chosen) {
  const names = new Map((catalog.departments ?? []).map((d) => [d.code, d.name]));
  const services = el('optgroup', { label: 'Услуги' }, ...(catalog.services ?? []).map((s) => option(
    `${SERVICE}:${s.code}`,
    s.name,
    `${names.get(s.department) ?? s.department}, ${deadlineText({ days: s.deadline_days, kind: s.deadline_kind })}`,
  )));
  const situations = el('optgroup', { label: 'Жизненные ситуации' }, ...(catalog.life_situations ?? []).map((l) => option(
    `${LIFE_SITUATION}:${l.code}`,
    l.name,
    `этапов: ${l.steps?.length ?? 0}`,
  )));
  const placeholder = option('', 'Выберите услугу или жизненную ситуацию');
  placeholder.disabled = true;
  const select = el('select', { id: 'route-target', name: 'target' }, placeholder, services, situations);
  // The last choice stays: a clerk usually checks several plots for one service.
  select.value = chosen && [...select.options].some((o) => o.value === chosen) ? chosen : '';
  return select;
}

function message(text, state) {
  const p = el('p', { className: 'route-message', textContent: text });
  if (state) p.dataset.state = state;
  if (state === 'error') p.setAttribute('role', 'alert');
  return p;
}

/** Department names by code: the answer's own, so they are those of the catalog that routed it. */
function departmentNames(answer) {
  const names = new Map();
  for (const d of answer.departments ?? []) names.set(d.department, d.name);
  for (const a of answer.approvals ?? []) if (a.department_name) names.set(a.department, a.department_name);
  return names;
}

function serviceNames(answer) {
  return new Map((answer.steps ?? []).map((s) => [s.service, s.name]));
}

/** Why the application cannot be granted: every blocking rule, with its department and zone. */
function blockWarning(answer, names, services) {
  const lifeSituation = answer.target?.kind === LIFE_SITUATION;
  const items = (answer.block_reasons ?? []).map((b) => {
    const meta = [b.zone?.zone_type_name || b.zone?.zone_type];
    if (lifeSituation) meta.unshift(services.get(b.service) ?? b.service);
    const li = el('li', {},
      el('strong', { textContent: names.get(b.department) ?? b.department }),
      el('span', { textContent: b.note || b.label || 'запрещено правилом каталога' }));
    const text = meta.filter(Boolean).join(' · ');
    if (text) li.append(el('span', { className: 'meta', textContent: text }));
    return li;
  });
  const box = el('div', { className: 'route-blocked' },
    el('strong', { className: 'route-blocked-title', textContent: 'Не может быть предоставлено на этом участке' }),
    el('ul', {}, ...items));
  box.setAttribute('role', 'alert');
  return box;
}

function summary(answer) {
  const rows = [
    ['target', 'Заявление', answer.target?.name ?? answer.target?.code],
    ['submitted', 'Дата подачи', formatDate(answer.submitted)],
    ['due', 'Срок ответа заявителю', formatDate(answer.due)],
  ];
  // For one service its deadline explains the due date; a rule may have set it.
  const step = answer.target?.kind === SERVICE ? answer.steps?.[0] : null;
  if (step) {
    const byRule = step.deadline_source && step.deadline_source !== 'service' ? ' (по правилу каталога)' : '';
    rows.push(['deadline', 'Срок по регламенту', `${deadlineText(step.deadline)}${byRule}`]);
  }
  const dl = el('dl', { className: 'attributes route-summary' });
  for (const [key, label, value] of rows) {
    const dd = el('dd', { textContent: value ?? '—' });
    dd.dataset.field = key;
    dl.append(el('dt', { textContent: label }), dd);
  }
  return dl;
}

/** The steps of a life situation in order; those on the critical path set the due date. */
function stepList(answer, names) {
  const items = (answer.steps ?? []).map((s) => {
    const li = el('li', {}, el('strong', { textContent: s.name ?? s.service }));
    li.dataset.service = s.service;
    const byRule = s.deadline_source && s.deadline_source !== 'service' ? ', по правилу каталога' : '';
    li.append(el('span', {
      className: 'meta',
      textContent: `${names.get(s.department) ?? s.department} · ${deadlineText(s.deadline)}${byRule}`,
    }));
    const dates = el('span', { className: 'route-step-dates' },
      `${formatDate(s.start)} – `, el('span', { className: 'route-step-due', textContent: formatDate(s.due) }));
    li.append(dates);
    if (s.critical) {
      li.classList.add('critical');
      // In words too, not only in colour.
      li.append(el('span', { className: 'route-critical', textContent: 'критический путь' }));
    }
    return li;
  });
  return el('div', {}, el('h4', { textContent: 'Этапы' }), el('ol', { className: 'route-steps' }, ...items));
}

/** One reason a department acts, as the clerk reads it. */
function reasonItem(reason, service, services, showService) {
  // The provider's note is the server's fixed English phrase; say it in Russian.
  const text = reason.kind === 'provider'
    ? 'оказывает услугу и отвечает заявителю'
    : (reason.note || reason.label || 'правило каталога');
  const li = el('li', { textContent: text });
  const meta = [];
  if (showService) meta.push(services.get(service) ?? service);
  if (reason.kind === 'rule' && reason.action && reason.action !== 'approve') meta.push(ACTIONS[reason.action] ?? reason.action);
  if (reason.zone) {
    meta.push(reason.zone.zone_type_name || reason.zone.zone_type);
    if (Number.isFinite(reason.zone.overlap_m2)) meta.push(`пересечение ${squareMetres(reason.zone.overlap_m2)}`);
  }
  const line = meta.filter(Boolean).join(' · ');
  if (line) li.append(el('span', { className: 'meta', textContent: line }));
  if (reason.action === 'block') li.classList.add('blocking');
  return li;
}

/** The departments: what each must do and by when, and under each why. */
function departmentTable(answer, services) {
  const showService = answer.target?.kind === LIFE_SITUATION;
  const head = el('thead', {}, el('tr', {},
    el('th', { textContent: 'Ведомство' }), el('th', { textContent: 'Действие' }), el('th', { textContent: 'Срок' })));
  const body = el('tbody');
  for (const d of answer.departments ?? []) {
    const name = el('td', {}, el('span', { className: 'route-department-name', textContent: d.name || d.department }));
    if (d.external) name.append(el('span', { className: 'external', textContent: 'внешнее' }));
    const action = el('td', { className: `route-action action-${d.action}`, textContent: ACTIONS[d.action] ?? d.action });
    const row = el('tr', { className: 'route-department' }, name, action, el('td', { textContent: formatDate(d.due) }));
    row.dataset.department = d.department;
    body.append(row);
    const reasons = (answer.approvals ?? [])
      .filter((a) => a.department === d.department)
      .flatMap((a) => (a.reasons ?? []).map((r) => reasonItem(r, a.service, services, showService)));
    if (reasons.length) {
      const cell = el('td', { colSpan: 3 }, el('ul', { className: 'route-reasons' }, ...reasons));
      const reasonRow = el('tr', { className: 'route-reasons-row' }, cell);
      reasonRow.dataset.department = d.department;
      body.append(reasonRow);
    }
  }
  // Fixed columns: the panel is narrow, and long department names must wrap
  // rather than push the due dates out of sight.
  const columns = el('colgroup', {}, el('col'), el('col', { className: 'route-col-action' }), el('col', { className: 'route-col-due' }));
  return el('table', { className: 'route-departments' }, columns, head, body);
}

/** The whole answer of POST /route. */
function routeResult(answer) {
  const names = departmentNames(answer);
  const services = serviceNames(answer);
  const parts = [];
  if (answer.blocked) parts.push(blockWarning(answer, names, services));
  parts.push(summary(answer));
  if (answer.target?.kind === LIFE_SITUATION) parts.push(stepList(answer, names));
  parts.push((answer.departments ?? []).length
    ? departmentTable(answer, services)
    : message('Согласований не требуется.'));
  return parts;
}

export class RouteCheck {
  constructor() {
    /** GET /catalog, asked once and shared by every plot. */
    this.catalog = null;
    /** Only the latest request (a plot shown, or a check) may fill the section. */
    this.token = 0;
    /** The clerk's last choice and date, kept from plot to plot. */
    this.chosen = '';
    this.submitted = '';
  }

  /** The catalog; a failure is forgotten, so the next plot asks again. */
  loadCatalog() {
    this.catalog ??= getJSON('/catalog').catch((e) => {
      this.catalog = null;
      throw e;
    });
    return this.catalog;
  }

  /** Fills `section` (the panel's, for plot `cadastral`) with the form, once the catalog is in. */
  async show(section, cadastral) {
    const token = ++this.token;
    section.dataset.cadastral = cadastral;
    section.replaceChildren(el('h3', { textContent: 'Согласования' }), message('Загрузка перечня услуг…', 'busy'));
    section.hidden = false;
    let catalog;
    try {
      catalog = await this.loadCatalog();
    } catch (e) {
      if (token !== this.token || !section.isConnected) return;
      // A server without routing has no catalog: the panel goes without the section.
      if (e.status === 404) {
        section.hidden = true;
        return;
      }
      section.replaceChildren(el('h3', { textContent: 'Согласования' }),
        message(`Перечень услуг не получен: ${e.message}`, 'error'));
      return;
    }
    if (token !== this.token || !section.isConnected) return;
    this.renderForm(section, cadastral, catalog);
  }

  renderForm(section, cadastral, catalog) {
    const select = targetSelect(catalog, this.chosen);
    const date = el('input', { id: 'route-date', name: 'submitted', type: 'date', value: this.submitted || today() });
    const form = el('form', { className: 'route-form', noValidate: true },
      el('label', { htmlFor: 'route-target', textContent: 'Услуга или жизненная ситуация' }),
      select,
      el('div', { className: 'route-row' },
        el('label', { htmlFor: 'route-date', textContent: 'Дата подачи' }),
        date,
        el('button', { id: 'route-check', type: 'submit', textContent: 'Проверить маршрут' })));
    const result = el('div', { className: 'route-result' });
    result.setAttribute('aria-live', 'polite');
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.check(section, result, cadastral, select.value, date.value);
    });
    section.replaceChildren(el('h3', { textContent: 'Согласования' }), form, result);
  }

  /** Asks POST /route for the chosen target and day, and shows the answer if it is still the latest. */
  async check(section, result, cadastral, chosen, submitted) {
    const say = (text, state) => {
      section.dataset.state = state;
      result.replaceChildren(message(text, state));
    };
    const colon = chosen.indexOf(':');
    if (colon < 0) {
      this.token += 1;
      say('Выберите услугу или жизненную ситуацию.', 'error');
      return;
    }
    if (!/^\d{4}-\d{2}-\d{2}$/.test(submitted)) {
      this.token += 1;
      say('Укажите дату подачи заявления.', 'error');
      return;
    }
    this.chosen = chosen;
    this.submitted = submitted;
    const kind = chosen.slice(0, colon);
    const code = chosen.slice(colon + 1);
    const token = ++this.token;
    delete section.dataset.target;
    say('Маршрут строится…', 'busy');
    try {
      const answer = await postJSON('/route', { [kind]: code, cadastral, submitted });
      if (token !== this.token || !section.isConnected) return;
      result.replaceChildren(...routeResult(answer));
      section.dataset.state = 'ok';
      section.dataset.target = answer.target?.code ?? code;
      section.dataset.submitted = answer.submitted ?? submitted;
    } catch (e) {
      if (token !== this.token || !section.isConnected) return;
      say(e.status === 401 || e.status === 403
        ? 'Проверка маршрута — для сотрудников: войдите с API-токеном.'
        : `Маршрут не построен: ${e.message}`, 'error');
    }
  }
}
