// Reports: a date range, the students x dates matrix with each student's percentage,
// students under a threshold highlighted, a bar chart of the percentages, and the CSV.

import { api, explain, classPaths } from '../api.js';
import { h, field, today, monthStart, shortDate, percent, longDate, byRollNo } from '../ui.js';
import { currentClass } from '../app.js';

/** A horizontal bar chart of each student's percentage, with the threshold line. */
function chart(rows, threshold) {
  const bar = 22;
  const gap = 8;
  const left = 150;
  const width = 640;
  const plot = width - left - 60;
  const height = rows.length * (bar + gap) + 40;
  const x = (p) => left + (p / 100) * plot;
  const svg = h('svg:svg', {
    class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-labelledby': 'chart-title',
  }, h('svg:title', { id: 'chart-title' }, `Attendance percentage per student; ${rows.filter((r) => r.percentage < threshold).length} under ${threshold} %`));
  rows.forEach((r, i) => {
    const y = 10 + i * (bar + gap);
    const low = r.percentage < threshold;
    const name = r.name.length > 20 ? `${r.name.slice(0, 19)}…` : r.name;
    svg.append(
      h('svg:text', { x: left - 8, y: y + bar * 0.7, 'text-anchor': 'end' }, name),
      h('svg:rect', { class: `bar${low ? ' low' : ''}`, x: left, y, width: Math.max(1, x(r.percentage) - left), height: bar },
        h('svg:title', {}, `${r.name}: ${percent(r.percentage)}`)),
      h('svg:text', { x: x(r.percentage) + 6, y: y + bar * 0.7 }, percent(r.percentage)),
    );
  });
  const bottom = height - 26;
  svg.append(
    h('svg:line', { class: 'axis', x1: left, y1: bottom, x2: left + plot, y2: bottom }),
    h('svg:line', { class: 'threshold', x1: x(threshold), y1: 4, x2: x(threshold), y2: bottom }),
    h('svg:text', { x: x(threshold), y: bottom + 18, 'text-anchor': 'middle' }, `${threshold} %`),
    h('svg:text', { x: left, y: bottom + 18, 'text-anchor': 'middle' }, '0'),
    h('svg:text', { x: left + plot, y: bottom + 18, 'text-anchor': 'middle' }, '100'),
  );
  return svg;
}

export async function reports(view) {
  const cls = currentClass();
  const paths = classPaths(cls);
  const now = today();
  const from = field('From', { type: 'date', name: 'start_date', value: monthStart(now), max: now });
  const to = field('To', { type: 'date', name: 'end_date', value: now });
  const threshold = field('Highlight students under (%)', { type: 'number', name: 'threshold', value: 75, min: 0, max: 100, step: 1, inputmode: 'numeric' });
  const output = h('div', { 'aria-live': 'polite' });
  const form = h('form', { novalidate: true, class: 'report-form' },
    h('div', { class: 'row' }, from.wrap, to.wrap, threshold.wrap),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Show the report')));

  async function draw() {
    const start = from.input.value;
    const end = to.input.value;
    from.error('');
    if (!start || !end || start > end) {
      from.error('Choose a start date on or before the end date.');
      return;
    }
    const limit = Math.min(100, Math.max(0, Number(threshold.input.value) || 75));
    const query = `start_date=${start}&end_date=${end}`;
    let report;
    try {
      report = await api('GET', `${paths.report}?${query}`);
    } catch (error) {
      output.replaceChildren(h('div', { class: 'error-box', role: 'alert' }, explain(error)));
      return;
    }
    const rows = [...report.students].sort(byRollNo);
    const low = rows.filter((r) => r.percentage < limit);
    const csv = h('a', { class: 'button secondary', href: `${paths.report}?${query}&format=csv`, download: `attendance-${start}-to-${end}.csv` }, 'Download CSV');
    if (!rows.length) {
      output.replaceChildren(h('p', {}, `${cls.name} has no students yet.`));
      return;
    }
    const table = h('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': 'Attendance table (scrolls sideways)' }, h('table', { class: 'matrix' },
      h('caption', { class: 'sr-only' }, `Attendance from ${longDate(start)} to ${longDate(end)}: P present, A absent`),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, 'Roll'), h('th', { scope: 'col' }, 'Name'),
        report.dates.map((d) => h('th', { scope: 'col', class: 'date' }, h('abbr', { title: longDate(d) }, shortDate(d)))),
        h('th', { scope: 'col', class: 'num' }, 'Days'), h('th', { scope: 'col', class: 'num' }, '%'))),
      h('tbody', {}, rows.map((r) => h('tr', { class: r.percentage < limit ? 'low' : null },
        h('td', {}, r.roll_no),
        h('th', { scope: 'row' }, r.name),
        r.present.map((p, i) => h('td', { class: p ? 'p' : 'a', title: `${r.name}, ${longDate(report.dates[i])}: ${p ? 'present' : 'absent'}` }, p ? 'P' : 'A')),
        h('td', { class: 'num' }, String(r.days_present)),
        h('td', { class: 'num' }, percent(r.percentage), r.percentage < limit ? [' ', h('span', { class: 'badge' }, `under ${limit} %`)] : null)))),
    ));
    output.replaceChildren(...[
      h('h2', {}, `${longDate(start)} to ${longDate(end)}`),
      h('p', {}, `${rows.length} students, ${report.dates.length} day${report.dates.length === 1 ? '' : 's'} with attendance. `,
        h('strong', {}, `${low.length} under ${limit} %`), low.length ? `: ${low.map((r) => r.name).join(', ')}.` : '.'),
      h('div', { class: 'actions' }, csv),
      report.dates.length ? table : h('p', {}, 'No attendance was taken in this period.'),
      report.dates.length ? h('h2', {}, 'Percentage per student') : null,
      report.dates.length ? chart(rows, limit) : null,
    ].filter(Boolean));
  }
  form.addEventListener('submit', (event) => { event.preventDefault(); draw(); });
  view.append(h('h1', {}, 'Reports'), h('p', { class: 'lead' }, cls.name), form, output);
  await draw();
}
