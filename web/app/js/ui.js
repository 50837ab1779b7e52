// Small DOM helpers: elements, labelled fields with their error, dialogs, dates.

/** `h('p', {class: 'x'}, 'text', child)`: an element; `on*` attributes are listeners. */
export function h(tag, attrs = {}, ...children) {
  const svg = tag.startsWith('svg:');
  const el = svg
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4))
    : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'text') el.textContent = value;
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

let ids = 0;
/** A fresh element id. */
export function uid(prefix = 'f') { ids += 1; return `${prefix}-${ids}`; }

/**
 * A labelled input with a hint and an error line (wired with aria-describedby).
 * Returns {wrap, input, error(message)}.
 */
export function field(label, attrs = {}, hint = '') {
  const id = attrs.id || uid(attrs.name || 'f');
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const input = h(attrs.tag || 'input', { ...attrs, tag: null, id, 'aria-describedby': hint ? `${hintId} ${errorId}` : errorId });
  const errorLine = h('p', { class: 'field-error', id: errorId, hidden: true });
  const wrap = h('div', { class: 'field' },
    h('label', { for: id }, label),
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    input, errorLine);
  const error = (message) => {
    errorLine.textContent = message || '';
    errorLine.hidden = !message;
    if (message) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  };
  return { wrap, input, error };
}

/** A live region for results of actions ("Marked Ada present"). */
export function statusLine() {
  return h('div', { class: 'status', role: 'status', 'aria-live': 'polite' });
}

/** Puts a message into a box: kind is 'error-box', 'success' or 'notice'. */
export function show(box, kind, ...content) {
  box.className = kind;
  box.replaceChildren();
  append(box, content);
  box.hidden = false;
}

/** A modal confirmation; resolves to true when confirmed. */
export function confirmDialog(title, text, confirmLabel) {
  return new Promise((resolve) => {
    const titleId = uid('dlg');
    const yes = h('button', { type: 'button', class: 'danger' }, confirmLabel);
    const no = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
    const dialog = h('dialog', { 'aria-labelledby': titleId },
      h('h2', { id: titleId }, title), h('p', {}, text), h('div', { class: 'actions' }, yes, no));
    const done = (answer) => { dialog.close(); dialog.remove(); resolve(answer); };
    yes.addEventListener('click', () => done(true));
    no.addEventListener('click', () => done(false));
    dialog.addEventListener('cancel', (e) => { e.preventDefault(); done(false); });
    document.body.append(dialog);
    dialog.showModal();
    no.focus();
  });
}

/** Disables a button while `work` runs. */
export async function busy(button, work) {
  button.disabled = true;
  try { return await work(); } finally { button.disabled = false; }
}

// --- dates (YYYY-MM-DD strings, local calendar) ---

export function isoDate(d) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}
export function today() { return isoDate(new Date()); }
export function parseDate(s) {
  const [y, m, d] = s.split('-').map(Number);
  return new Date(y, m - 1, d);
}
export function longDate(s) {
  return parseDate(s).toLocaleDateString(undefined, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });
}
export function shortDate(s) {
  return parseDate(s).toLocaleDateString(undefined, { day: 'numeric', month: 'short' });
}
export function monthStart(s) { return `${s.slice(0, 7)}-01`; }

/** Sorts students by roll number, numbers in numeric order ("2" before "10"). */
export function byRollNo(a, b) {
  return a.roll_no.localeCompare(b.roll_no, undefined, { numeric: true, sensitivity: 'base' });
}

export function percent(value) {
  return `${Math.round(value * 10) / 10} %`;
}
