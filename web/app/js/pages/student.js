// One student: a month calendar of attendance (tap a day to mark or unmark it) and the
// percentage over a chosen range.

import { api, explain, classPaths } from '../api.js';
import { h, field, statusLine, isoDate, parseDate, today, monthStart, percent, longDate } from '../ui.js';
import { currentClass } from '../app.js';

const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

/** The student's row of the class report over [start, end], or null. */
async function row(paths, rollNo, start, end) {
  const report = await api('GET', `${paths.report}?start_date=${start}&end_date=${end}`);
  const student = report.students.find((s) => s.roll_no === rollNo);
  if (!student) return { student: null, report };
  const present = new Set(report.dates.filter((_, i) => student.present[i]));
  return { student, report, present };
}

function lastDay(month) {
  const d = parseDate(month);
  return isoDate(new Date(d.getFullYear(), d.getMonth() + 1, 0));
}

export async function studentPage(view, rollNo) {
  const cls = currentClass();
  const paths = classPaths(cls);
  const now = today();
  let month = monthStart(now);
  const first = await row(paths, rollNo, month, lastDay(month));
  if (!first.student) {
    view.append(h('h1', {}, 'Student not found'),
      h('p', {}, `There is no student with roll number ${rollNo} in ${cls.name}. `, h('a', { href: '/app/students' }, 'Back to the students')));
    return;
  }
  const { name } = first.student;
  const status = statusLine();
  const calendar = h('section', { class: 'calendar', 'aria-labelledby': 'month-heading' });

  async function drawMonth(data) {
    const { present } = data || await row(paths, rollNo, month, lastDay(month));
    const start = parseDate(month);
    const title = start.toLocaleDateString(undefined, { month: 'long', year: 'numeric' });
    const prev = h('button', { type: 'button', class: 'secondary small', 'aria-label': 'Previous month' }, '‹');
    const next = h('button', { type: 'button', class: 'secondary small', 'aria-label': 'Next month' }, '›');
    prev.addEventListener('click', () => { month = monthStart(isoDate(new Date(start.getFullYear(), start.getMonth() - 1, 1))); drawMonth().then(() => calendar.querySelector('[aria-label="Previous month"]').focus()); });
    next.addEventListener('click', () => { month = monthStart(isoDate(new Date(start.getFullYear(), start.getMonth() + 1, 1))); drawMonth().then(() => calendar.querySelector('[aria-label="Next month"]').focus()); });
    const weeks = [];
    let week = [];
    const lead = (start.getDay() + 6) % 7;
    for (let i = 0; i < lead; i += 1) week.push(h('td', {}));
    const days = parseDate(lastDay(month)).getDate();
    for (let d = 1; d <= days; d += 1) {
      const date = isoDate(new Date(start.getFullYear(), start.getMonth(), d));
      const isPresent = present.has(date);
      const button = h('button', {
        type: 'button',
        'aria-pressed': String(isPresent),
        'aria-label': `${longDate(date)}: ${isPresent ? 'present' : 'not marked present'}`,
        'data-date': date,
        disabled: date > now,
      }, String(d));
      button.addEventListener('click', () => toggle(date, !isPresent));
      week.push(h('td', {}, button));
      if (week.length === 7) { weeks.push(h('tr', {}, week)); week = []; }
    }
    if (week.length) weeks.push(h('tr', {}, week));
    calendar.replaceChildren(
      h('div', { class: 'month-nav' }, prev, h('h2', { id: 'month-heading' }, title), next),
      h('p', { class: 'hint' }, `Present on ${present.size} day${present.size === 1 ? '' : 's'} this month. Tap a day to mark or unmark it.`),
      h('table', {}, h('caption', { class: 'sr-only' }, `Attendance of ${name}, ${title}`),
        h('thead', {}, h('tr', {}, WEEKDAYS.map((w) => h('th', { scope: 'col' }, w)))),
        h('tbody', {}, weeks)),
    );
  }

  async function toggle(date, present) {
    try {
      await api(present ? 'PUT' : 'DELETE', paths.correct(rollNo, date));
      status.textContent = `${name}: ${longDate(date)} ${present ? 'marked present' : 'unmarked'}.`;
      await drawMonth();
      calendar.querySelector(`[data-date="${date}"]`).focus();
      await showRange();
    } catch (error) {
      status.textContent = explain(error);
    }
  }

  // The percentage over a range (from the start of the month two months back, to today).
  const back = parseDate(month);
  const from = field('From', { type: 'date', name: 'from', value: isoDate(new Date(back.getFullYear(), back.getMonth() - 2, 1)), max: now });
  const to = field('To', { type: 'date', name: 'to', value: now, max: now });
  const summary = h('p', { 'aria-live': 'polite', class: 'range-summary' });
  const rangeForm = h('form', { novalidate: true },
    h('div', { class: 'row' }, from.wrap, to.wrap, h('div', { class: 'field' }, h('button', { type: 'submit', class: 'secondary' }, 'Show'))), summary);
  async function showRange() {
    if (!from.input.value || !to.input.value || from.input.value > to.input.value) {
      summary.textContent = 'Choose a start date before the end date.';
      return;
    }
    try {
      const { student, report } = await row(paths, rollNo, from.input.value, to.input.value);
      const days = report.dates.length;
      summary.textContent = days
        ? `${percent(student.percentage)}: present on ${student.days_present} of ${days} school day${days === 1 ? '' : 's'} (days on which attendance was taken) from ${longDate(from.input.value)} to ${longDate(to.input.value)}.`
        : 'No attendance was taken in this period.';
    } catch (error) {
      summary.textContent = explain(error);
    }
  }
  rangeForm.addEventListener('submit', (event) => { event.preventDefault(); showRange(); });

  await drawMonth(first);
  await showRange();
  view.append(
    h('h1', {}, name),
    h('p', { class: 'lead' }, `Roll number ${rollNo} · ${cls.name} · `, h('a', { href: '/app/students' }, 'All students')),
    status, calendar,
    h('h2', {}, 'Attendance over a period'), rangeForm,
  );
}
