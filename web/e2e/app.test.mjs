// The teacher web app end to end, in Debian's Chromium, at a phone's and a laptop's size:
// sign-up with the code from the mail, enrolment from real photos (a refusal shown in
// words, a duplicate face named), the roster, attendance from a real group photo with the
// boxes drawn, a suggestion confirmed, a second photo merged, a student marked by hand, the
// calendar, the report with its chart and CSV, sign-out, forgot password and account
// deletion; axe-core on every page; the docs page under the CSP.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import {
  startMailCatcher, startServer, startBrowser, withPage, checkA11y, face, VIEWPORTS, repo,
} from './harness.mjs';

const PASSWORD = 'Corr3ct horse battery';
const NEW_PASSWORD = 'An0ther good password';

/** Students of the journey; `photos` are tried in order until one passes the gate. */
const PEOPLE = [
  { person: 'courteney_cox', name: 'Courteney Cox', roll: '1', photos: ['2.jpg'] },
  // 1.jpg (her first photo, as the Rust tests would take without a preference) leaves her
  // face in friends_four.jpg at 0.374: between the default review (0.37) and match (0.42)
  // thresholds, so a suggestion for the teacher to confirm.
  { person: 'jennifer_aniston', name: 'Jennifer Aniston', roll: '2', photos: ['1.jpg'] },
  { person: 'matthew_perry', name: 'Matthew Perry', roll: '3' },
  { person: 'lisa_kudrow', name: 'Lisa Kudrow', roll: '5' },
  { person: 'david_schwimmer', name: 'David Schwimmer', roll: '6' },
  { person: 'matt_leblanc', name: 'Matt LeBlanc', roll: '10' },
  { person: 'barack_obama', name: 'Barack Obama', roll: '7' },
];

/** A person's photos in file-name order (the order the Rust tests enrol in). */
function photosOf(p) {
  if (p.photos) return p.photos.map((f) => face(`identities/${p.person}/${f}`));
  const dir = face(`identities/${p.person}`);
  return fs.readdirSync(dir).sort().map((f) => path.join(dir, f));
}

const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1';

let mail;
let server;
let browser;

before(async () => {
  mail = await startMailCatcher();
  server = await startServer(mail);
  browser = await startBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
  if (mail) mail.close();
});

function isoDay(d) { return d.toISOString().slice(0, 10); }

async function heading(page, text) {
  await page.getByRole('heading', { level: 1, name: text }).waitFor();
}

/** Signs up through the three steps; returns the address. */
async function signUp(page, label) {
  const email = `teacher-${label}-${Date.now()}@school.example.org`;
  await page.goto('/');
  await heading(page, 'Sign in');
  assert.match(new URL(page.url()).pathname, /\/app\/signin$/);
  await checkA11y(page, 'sign in');
  await page.getByRole('link', { name: 'Create an account' }).click();
  await heading(page, 'Create your account');
  await checkA11y(page, 'sign up, step 1');
  await page.getByLabel('Email').fill(email);
  await page.getByRole('button', { name: 'Send the code' }).click();
  // The resend button counts the cooldown down (60 s by default).
  const resend = page.getByRole('button', { name: /Send again in \d+ s/ });
  await resend.waitFor();
  assert.ok(await resend.isDisabled());
  const first = Number((await resend.textContent()).match(/\d+/)[0]);
  assert.ok(first > 50 && first <= 60, `countdown starts at ${first}`);
  await checkA11y(page, 'sign up, step 2');
  const code = await mail.code(email, 1);
  await page.getByLabel('6-digit code').fill(code);
  await page.getByRole('button', { name: 'Confirm the code' }).click();
  await page.getByRole('heading', { name: 'Choose a user name and password' }).waitFor();
  await page.getByLabel('User name').fill(`teacher-${label}-${Date.now() % 100000}`);
  // A password the policy refuses: the reason is shown beside the field.
  const password = page.getByLabel('Password', { exact: true });
  await password.fill('onlylowercase');
  await page.getByRole('button', { name: 'Create my account' }).click();
  const policy = page.locator('#' + (await password.getAttribute('aria-describedby')).split(' ').pop());
  await policy.waitFor();
  assert.match(await policy.textContent(), /two kinds of characters/);
  assert.equal(await password.getAttribute('aria-invalid'), 'true');
  await checkA11y(page, 'sign up, step 3 with a policy error');
  await password.fill(PASSWORD);
  await page.getByRole('button', { name: 'Create my account' }).click();
  await heading(page, 'Students');
  await page.getByText('Welcome to Rollcall!').waitFor();
  await page.getByText('No students yet.').waitFor();
  await checkA11y(page, 'empty roster');
  return email;
}

/** Adds a student through the form, trying their photos in order; returns the refusals. */
async function addStudent(page, p) {
  const refusals = [];
  for (const file of photosOf(p)) {
    await page.getByLabel('Full name').fill(p.name);
    await page.getByLabel('Roll number').fill(p.roll);
    await page.getByLabel('Choose or take a photo').setInputFiles(file);
    const answer = page.waitForResponse((r) => r.request().method() === 'POST' && /\/addStudent|\/classes\/\d+\/students/.test(r.url()));
    await page.getByRole('button', { name: 'Add the student' }).click();
    const response = await answer;
    if (response.status() === 200) {
      await page.getByText(`${p.name} (roll number ${p.roll}) was added`).waitFor();
      return refusals;
    }
    assert.equal(response.status(), 422, `${file}: ${await response.text()}`);
    await page.getByText('This photo cannot be used:').waitFor();
    refusals.push(file);
  }
  throw new Error(`no photo of ${p.person} was accepted`);
}

async function enrolEveryone(page) {
  await page.getByRole('link', { name: 'Add a student' }).first().click();
  await heading(page, 'Add a student');
  await checkA11y(page, 'add a student');

  // The camera: a live preview where getUserMedia is available (Chromium's fake camera).
  await page.getByRole('button', { name: 'Use the camera' }).click();
  const video = page.getByLabel('Camera preview');
  await video.waitFor();
  await page.waitForFunction(() => document.querySelector('video').videoWidth > 0);
  await page.getByRole('button', { name: 'Take the photo' }).click();
  await page.getByRole('img', { name: 'The chosen photo' }).waitFor();
  assert.ok(await page.evaluate(() => document.querySelector('.preview').naturalWidth > 0));

  // A photo the quality gate refuses: every reason in words, with what to do.
  await page.getByLabel('Full name').fill('Emma Watson');
  await page.getByLabel('Roll number').fill('99');
  await page.getByLabel('Choose or take a photo').setInputFiles(face('hard/profile/emma_watson_profile.jpg'));
  const refusal = page.waitForResponse((r) => r.url().endsWith('/addStudent'));
  await page.getByRole('button', { name: 'Add the student' }).click();
  const body = await (await refusal).json();
  assert.ok(body.reasons.length > 0, JSON.stringify(body));
  await page.getByText('This photo cannot be used:').waitFor();
  const shown = await page.locator('.reasons li').evaluateAll((items) => items.map((li) => [li.dataset.code, li.textContent]));
  assert.deepEqual(shown.map(([code]) => code), body.reasons.map((r) => r.code));
  for (const [code, text] of shown) {
    assert.ok(!text.includes(code), `a code instead of words: ${text}`);
    assert.ok(text.split('.').length >= 3, `no advice in: ${text}`);
  }
  if (body.reasons.some((r) => r.code === 'HEAD_TURNED')) {
    assert.ok(shown.some(([, t]) => t.includes('look straight at the camera')));
  }
  await checkA11y(page, 'a refused photo');

  for (const p of PEOPLE) await addStudent(page, p);

  // The same face again, under a new roll number: the existing student is named.
  await page.getByLabel('Full name').fill('Courteney again');
  await page.getByLabel('Roll number').fill('42');
  await page.getByLabel('Choose or take a photo').setInputFiles(face('identities/courteney_cox/2.jpg'));
  await page.getByRole('button', { name: 'Add the student' }).click();
  await page.getByText(/already enrolled as roll number 1 \(Courteney Cox\)/).waitFor();
}

async function roster(page) {
  await page.getByRole('link', { name: 'Students', exact: true }).click();
  await heading(page, 'Students');
  await page.getByText(`${PEOPLE.length} students.`).waitFor();
  const rolls = await page.locator('tbody tr td:first-child').allTextContents();
  assert.deepEqual(rolls, ['1', '2', '3', '5', '6', '7', '10'], 'sorted by roll number');
  await checkA11y(page, 'roster');
  await page.getByLabel('Search by name or roll number').fill('perry');
  assert.deepEqual(await page.locator('tbody tr td:nth-child(2)').allTextContents(), ['Matthew Perry']);
  await page.getByLabel('Search by name or roll number').fill('');
  // Delete with confirmation: cancel first, then confirm.
  await page.getByRole('button', { name: 'Delete Barack Obama' }).click();
  const dialog = page.getByRole('dialog', { name: 'Delete Barack Obama?' });
  await dialog.waitFor();
  await checkA11y(page, 'delete confirmation');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  assert.equal(await page.getByRole('button', { name: 'Delete Barack Obama' }).count(), 1);
  await page.getByRole('button', { name: 'Delete Barack Obama' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete the student' }).click();
  await page.getByText('Barack Obama was deleted.').waitFor();
  await page.getByText(`${PEOPLE.length - 1} students.`).waitFor();
}

/** Waits for a photo's result and returns its section. */
async function photoResult(page, n) {
  const section = page.locator('section.result').nth(n - 1);
  await section.getByRole('heading', { name: new RegExp(`^Photo ${n}: \\d+ faces? found`) }).waitFor({ timeout: 120_000 });
  return section;
}

async function attendance(page, label) {
  await page.getByRole('link', { name: 'Attendance' }).click();
  await heading(page, 'Take attendance');
  await checkA11y(page, 'take attendance');
  const upload = page.waitForResponse((r) => r.url().endsWith('/mark_attendance'));
  await page.getByLabel('Choose or take the class photo').setInputFiles(face('groups/friends_four.jpg'));
  await page.getByText(/Sending the photo|Finding faces/).first().waitFor();
  const answer = await (await upload).json();
  const date = answer.date;
  const first = await photoResult(page, 1);
  // One box per face, drawn over the photo.
  assert.equal(await first.locator('svg rect.box').count(), answer.faces_detected);
  assert.equal(answer.faces_detected, 4);
  assert.ok(await first.locator('figure img').evaluate((img) => img.naturalWidth > 0 && img.src.startsWith('blob:')));
  const marked = answer.marked.map((s) => s.roll_no).sort();
  assert.deepEqual(marked, ['1', '10', '3'], JSON.stringify(answer));
  // The default thresholds leave Jennifer Aniston as a suggestion (similarity ~0.37).
  const suggestion = answer.unknown_faces.find((u) => u.suggestion);
  assert.equal(suggestion && suggestion.suggestion.roll_no, '2', JSON.stringify(answer.unknown_faces));
  assert.equal(await first.locator('li[data-kind="marked"]').count(), 3);
  await first.getByText('Is this Jennifer Aniston?').waitFor();
  await checkA11y(page, 'attendance result');
  if (SCREENSHOTS && label === 'laptop') {
    await first.screenshot({ path: path.join(repo, 'docs/attendance.jpg'), type: 'jpeg', quality: 60 });
  }
  const confirm = page.waitForRequest((r) => r.method() === 'PUT' && r.url().endsWith(`/attendance/2/${date}`));
  await first.getByRole('button', { name: /Yes, face \d is Jennifer Aniston/ }).click();
  await confirm;
  await first.getByText('Jennifer Aniston — marked present (you confirmed)').waitFor();
  assert.match(await first.getByRole('list', { name: 'What this photo did' }).textContent(), /4 marked present.*0 to confirm/);
  assert.equal(await first.locator('svg rect.box.marked').count(), 4);
  await page.getByText('4 of 6 present').waitFor();
  const absent = await page.getByRole('list', { name: 'Absent students' }).locator('li').allTextContents();
  assert.equal(absent.length, 2, absent.join());

  // Another photo of the class: its result merges into the day.
  const second = page.waitForResponse((r) => r.url().endsWith('/mark_attendance'));
  await page.getByLabel('Add another photo of this class').setInputFiles(face('groups/friends_kudrow_cox.png'));
  const answer2 = await (await second).json();
  const result2 = await photoResult(page, 2);
  assert.ok(answer2.already_present.some((s) => s.roll_no === '1'), JSON.stringify(answer2));
  const kudrow = answer2.unknown_faces.find((u) => u.suggestion && u.suggestion.roll_no === '5');
  if (kudrow) await result2.getByRole('button', { name: /Yes, face \d is Lisa Kudrow/ }).click();
  else assert.ok(answer2.marked.some((s) => s.roll_no === '5'), JSON.stringify(answer2));
  await page.getByText('5 of 6 present').waitFor();

  // The last absent student, marked present by hand.
  await page.getByRole('button', { name: 'Mark present: David Schwimmer' }).click();
  await page.getByText('6 of 6 present').waitFor();
  await page.getByText('Nobody is absent.').waitFor();
  await checkA11y(page, 'attendance after two photos');
  return date;
}

/** The previous month's 15th: a second day of attendance, for the report. */
function earlierDay(date) {
  const d = new Date(`${date}T00:00:00Z`);
  return isoDay(new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - 1, 15)));
}

async function studentPage(page, date) {
  await page.getByRole('link', { name: 'Students', exact: true }).click();
  await page.getByRole('link', { name: 'Matt LeBlanc' }).click();
  await heading(page, 'Matt LeBlanc');
  const today = page.locator(`button[data-date="${date}"]`);
  assert.equal(await today.getAttribute('aria-pressed'), 'true');
  await checkA11y(page, 'student calendar');
  // Unmark today, then mark it again.
  await today.click();
  await page.locator(`button[data-date="${date}"][aria-pressed="false"]`).waitFor();
  await page.locator(`button[data-date="${date}"]`).click();
  await page.locator(`button[data-date="${date}"][aria-pressed="true"]`).waitFor();
  // A day of the previous month.
  const earlier = earlierDay(date);
  await page.getByRole('button', { name: 'Previous month' }).click();
  const day = page.locator(`button[data-date="${earlier}"]`);
  await day.waitFor();
  assert.equal(await day.getAttribute('aria-pressed'), 'false');
  const put = page.waitForRequest((r) => r.method() === 'PUT' && r.url().endsWith(`/attendance/10/${earlier}`));
  await day.click();
  await put;
  await page.locator(`button[data-date="${earlier}"][aria-pressed="true"]`).waitFor();
  await page.getByText(/100 %: present on 2 of 2 school days/).waitFor();
  return earlier;
}

async function reports(page, date, earlier, label) {
  await page.getByRole('link', { name: 'Reports' }).click();
  await heading(page, 'Reports');
  await page.getByLabel('From').fill(earlier);
  await page.getByRole('button', { name: 'Show the report' }).click();
  const table = page.locator('table.matrix');
  await page.waitForFunction(() => document.querySelectorAll('table.matrix thead th.date').length === 2);
  assert.equal(await table.locator('tbody tr').count(), 6);
  // Everyone but Matt LeBlanc was present on one of the two days: 50 %, under 75 %.
  assert.equal(await table.locator('tbody tr.low').count(), 5);
  await page.getByText('5 under 75 %', { exact: true }).waitFor();
  assert.equal(await page.locator('svg.chart rect.bar').count(), 6);
  assert.equal(await page.locator('svg.chart rect.bar.low').count(), 5);
  await checkA11y(page, 'report');
  if (SCREENSHOTS && label === 'laptop') {
    await page.locator('main').screenshot({ path: path.join(repo, 'docs/report.jpg'), type: 'jpeg', quality: 60 });
  }
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: 'Download CSV' }).click(),
  ]);
  const csv = fs.readFileSync(await download.path(), 'utf8').trim().split('\n').map((line) => line.split(','));
  assert.deepEqual(csv[0], ['Name', 'Roll_no', earlier, date, 'Days_present', 'Percentage']);
  assert.equal(csv.length, 7);
  const leblanc = csv.find((row) => row[1] === '10');
  assert.deepEqual(leblanc, ['Matt LeBlanc', '10', 'P', 'P', '2', '100.0']);
  const cox = csv.find((row) => row[1] === '1');
  assert.deepEqual(cox, ['Courteney Cox', '1', 'A', 'P', '1', '50.0']);
}

/** Another class: the picker appears, and every page works on the chosen class. */
async function classes(page) {
  await page.getByRole('link', { name: 'Students', exact: true }).click();
  await heading(page, 'Students');
  await page.getByText('Create another class').click();
  await page.getByLabel('Class name').fill('7B Maths');
  await page.getByRole('button', { name: 'Create the class' }).click();
  await page.getByText('Class 7B Maths created and chosen.').waitFor();
  const picker = page.getByLabel('Class', { exact: true });
  assert.equal(await picker.locator('option').count(), 2);
  assert.match(await picker.locator('option:checked').textContent(), /^7B Maths \(0\)$/);
  await page.getByRole('link', { name: 'Attendance' }).click();
  await page.getByText('7B Maths has no students yet.').waitFor();
  await checkA11y(page, 'attendance of an empty class');
  await picker.selectOption({ label: 'Default class (6)' });
  await heading(page, 'Take attendance');
  await page.getByLabel('Choose or take the class photo').waitFor();
}

async function accountPages(page, email) {
  // Sign out.
  await page.getByRole('link', { name: 'Account' }).click();
  await heading(page, 'Your account');
  await checkA11y(page, 'account');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await heading(page, 'Sign in');
  await page.getByText('You are signed out.').waitFor();
  assert.equal((await page.context().cookies()).filter((c) => c.name === 'rollcall_session').length, 0);
  // A wrong password, then forgot password.
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill('Wrong-passw0rd');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('The email or the password is wrong.').waitFor();
  await checkA11y(page, 'sign in error');
  await page.getByRole('link', { name: 'Forgot your password?' }).click();
  await heading(page, 'Forgot your password?');
  await page.getByLabel('Email').fill(email);
  await page.getByRole('button', { name: 'Send the code' }).click();
  await page.getByRole('button', { name: /Send again in \d+ s/ }).waitFor();
  await checkA11y(page, 'forgot password');
  const code = await mail.code(email, 3);
  await page.getByLabel('6-digit code').fill(code);
  await page.getByLabel('New password').fill(NEW_PASSWORD);
  await page.getByRole('button', { name: 'Change the password' }).click();
  await page.getByText('Your password is changed.').waitFor();
  assert.equal(await page.getByLabel('Email').inputValue(), email);
  await page.getByLabel('Password').fill(NEW_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await heading(page, 'Take attendance');
  const session = (await page.context().cookies()).find((c) => c.name === 'rollcall_session');
  assert.ok(session && session.httpOnly && session.sameSite === 'Strict', JSON.stringify(session));
  assert.deepEqual(await page.evaluate(() => Object.keys(localStorage)), []);
  // Delete the account: the page says what goes; the email must be typed.
  await page.getByRole('link', { name: 'Account' }).click();
  await heading(page, 'Your account');
  await page.getByText('your 6 students with their face data').waitFor();
  await page.getByLabel('Type your email address to confirm').fill('someone@else.org');
  await page.getByRole('button', { name: 'Delete my account' }).click();
  await page.getByText(`Type ${email} exactly`).waitFor();
  await page.getByLabel('Type your email address to confirm').fill(email);
  await page.getByRole('button', { name: 'Delete my account' }).click();
  await page.getByText('Your account and everything in it were deleted.').waitFor();
  await heading(page, 'Sign in');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(NEW_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('The email or the password is wrong.').waitFor();
}

for (const [label, viewport] of Object.entries(VIEWPORTS)) {
  test(`a teacher does everything at ${viewport.width}x${viewport.height} (${label})`, { timeout: 600_000 }, async () => {
    await withPage(browser, viewport, server.base, `teacher-${label}`, async (page) => {
      const email = await signUp(page, label);
      await enrolEveryone(page);
      await roster(page);
      const date = await attendance(page, label);
      const earlier = await studentPage(page, date);
      await reports(page, date, earlier, label);
      await classes(page);
      await accountPages(page, email);
      assert.ok(page.axeChecked >= 15, `axe ran on ${page.axeChecked} pages`);
    });
  });
}

test('the API documentation page works under its CSP, from the binary alone', async () => {
  await withPage(browser, VIEWPORTS.laptop, server.base, 'docs', async (page) => {
    const outside = [];
    page.on('request', (r) => { if (!r.url().startsWith(server.base) && !r.url().startsWith('data:')) outside.push(r.url()); });
    await page.goto('/docs');
    await page.getByText('/mark_attendance').first().waitFor({ timeout: 30_000 });
    assert.deepEqual(outside, []);
    assert.equal(page.problems.length, 0, page.problems.join('\n'));
  });
});

/** The compressed size of `file` as served (gzip), read without decompressing. */
function gzipSize(base, file) {
  return new Promise((resolve, reject) => {
    http.get(`${base}${file}`, { headers: { 'accept-encoding': 'gzip' } }, (r) => {
      let size = 0;
      r.on('data', (chunk) => { size += chunk.length; });
      r.on('end', () => resolve({ status: r.statusCode, encoding: r.headers['content-encoding'], size }));
    }).on('error', reject);
  });
}

test('every page is small: its HTML, JavaScript and CSS under 200 KB compressed', async () => {
  // Every page loads the same files (the app is one page): the HTML, the stylesheet and the
  // modules, all imported at start.
  const files = ['/', '/static/app.css', '/static/icon.svg', '/static/js/app.js', '/static/js/api.js',
    '/static/js/ui.js', '/static/js/pages/auth.js', '/static/js/pages/students.js',
    '/static/js/pages/attendance.js', '/static/js/pages/student.js', '/static/js/pages/reports.js'];
  let total = 0;
  for (const file of files) {
    const { status, encoding, size } = await gzipSize(server.base, file);
    assert.equal(status, 200, file);
    if (!file.endsWith('.svg')) assert.equal(encoding, 'gzip', file);
    total += size;
  }
  console.log(`page weight: ${(total / 1024).toFixed(1)} KiB compressed (${files.length} files)`);
  assert.ok(total < 200 * 1024, `${total} bytes`);
});
