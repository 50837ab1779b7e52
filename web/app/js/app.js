// Rollcall's web app: a router over /app/..., the session, and the class picker.
// Plain ES modules, no build step: what is here is what the browser runs.

import { api, setCsrf, whenSessionEnds } from './api.js';
import { h } from './ui.js';
import { signIn, signUp, forgotPassword, account } from './pages/auth.js';
import { students, addStudent } from './pages/students.js';
import { takeAttendance } from './pages/attendance.js';
import { studentPage } from './pages/student.js';
import { reports } from './pages/reports.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const picker = document.getElementById('class-picker');
const select = document.getElementById('class-select');

/** What every page may read: the account, the classes, the chosen class. */
export const session = { me: null, classes: [], classId: null, flash: null };

const routes = [
  { path: /^\/app\/signin$/, page: signIn, title: 'Sign in', public: true },
  { path: /^\/app\/signup$/, page: signUp, title: 'Create your account', public: true },
  { path: /^\/app\/forgot$/, page: forgotPassword, title: 'Forgot password', public: true },
  { path: /^\/app\/account$/, page: account, title: 'Your account' },
  { path: /^\/app\/students$/, page: students, title: 'Students', nav: '/app/students' },
  { path: /^\/app\/students\/add$/, page: addStudent, title: 'Add a student', nav: '/app/students' },
  { path: /^\/app\/student\/(.+)$/, page: studentPage, title: 'Student', nav: '/app/students' },
  { path: /^\/app\/attendance$/, page: takeAttendance, title: 'Take attendance', nav: '/app/attendance' },
  { path: /^\/app\/reports$/, page: reports, title: 'Reports', nav: '/app/reports' },
];

/** The chosen class (the default class unless the teacher picked another). */
export function currentClass() {
  return session.classes.find((c) => c.id === session.classId) || session.classes[0] || null;
}

/** Reloads the classes (their member counts change as students are added). */
export async function loadClasses() {
  const { classes } = await api('GET', '/classes');
  session.classes = classes;
  const kept = Number(sessionStorage.getItem('rollcall.class'));
  if (!classes.some((c) => c.id === session.classId)) {
    session.classId = classes.some((c) => c.id === kept) ? kept : (classes[0] && classes[0].id);
  }
  select.replaceChildren(...classes.map((c) => h('option', { value: c.id, selected: c.id === session.classId },
    `${c.name} (${c.students})`)));
}

export function signedIn(me) {
  session.me = me;
  setCsrf(me.csrf_token);
}

export function signedOut(flash) {
  session.me = null;
  session.classes = [];
  setCsrf(null);
  session.flash = flash || null;
}

/** Goes to `path` (pushing it onto the history unless `replace`). */
export function go(path, replace = false) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  render();
}

let rendering = 0;

async function render() {
  const ticket = ++rendering;
  let path = location.pathname.replace(/\/+$/, '') || '/';
  if (path === '/' || path === '/app') path = session.me ? '/app/attendance' : '/app/signin';
  const route = routes.find((r) => r.path.test(path));
  if (!route) {
    history.replaceState(null, '', session.me ? '/app/attendance' : '/app/signin');
    return render();
  }
  if (!route.public && !session.me) {
    history.replaceState(null, '', '/app/signin');
    return render();
  }
  if (route.public && session.me) {
    history.replaceState(null, '', '/app/attendance');
    return render();
  }
  if (location.pathname !== path) history.replaceState(null, '', path);
  nav.hidden = !session.me;
  picker.hidden = !session.me || session.classes.length < 2;
  for (const link of nav.querySelectorAll('a')) {
    if (link.getAttribute('href') === route.nav || link.getAttribute('href') === path) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const params = path.match(route.path).slice(1).map(decodeURIComponent);
  const view = h('div', { class: 'view' });
  document.title = `${route.title} · Rollcall`;
  const flash = session.flash;
  session.flash = null;
  if (flash) view.append(h('div', { class: 'success', role: 'status' }, flash));
  try {
    await route.page(view, ...params);
  } catch (error) {
    view.append(h('div', { class: 'error-box', role: 'alert' }, 'This page could not be loaded. ', String(error.message || error)));
  }
  if (ticket !== rendering) return undefined;
  main.replaceChildren(view);
  const heading = main.querySelector('h1');
  if (heading) {
    heading.setAttribute('tabindex', '-1');
    if (document.activeElement === document.body || !main.contains(document.activeElement)) heading.focus();
    document.title = `${heading.textContent} · Rollcall`;
  }
  return undefined;
}

// Links inside the app navigate without reloading.
document.addEventListener('click', (event) => {
  const link = event.target.closest('a[href^="/app"]');
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  event.preventDefault();
  go(link.getAttribute('href'));
});
window.addEventListener('popstate', render);
select.addEventListener('change', () => {
  session.classId = Number(select.value);
  sessionStorage.setItem('rollcall.class', String(session.classId));
  render();
});

whenSessionEnds(() => {
  if (!session.me) return;
  signedOut('Your session ended. Sign in again to go on.');
  go('/app/signin', true);
});

async function start() {
  try {
    signedIn(await api('GET', '/session'));
    await loadClasses();
  } catch {
    session.me = null;
  }
  render();
}

start();
