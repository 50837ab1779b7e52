// The e2e harness: a mail catcher (a small SMTP server), the real `rollcall serve` binary
// on a free port with a fresh SQLite database, Debian's Chromium driven by playwright-core,
// axe-core injected into each page, and a screenshot + console log saved on failure.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, '../..');
export const artifacts = path.join(here, 'artifacts');

function need(condition, message) {
  if (!condition) throw new Error(message);
}

/** The photos of `../shared/faces` (ROLLCALL_FACES_DIR). */
export const facesDir = process.env.ROLLCALL_FACES_DIR || path.resolve(repo, '../shared/faces');
export function face(relative) {
  const file = path.join(facesDir, relative);
  need(fs.existsSync(file), `missing photo ${file}: set ROLLCALL_FACES_DIR to the shared faces folder (../shared/faces)`);
  return file;
}

// --- mail ---

/** A minimal SMTP server that keeps every message (no TLS, no auth: a local catcher). */
export async function startMailCatcher() {
  const messages = [];
  const server = net.createServer((socket) => {
    socket.setEncoding('utf8');
    let buffer = '';
    let data = null;
    let rcpt = [];
    const reply = (line) => socket.write(`${line}\r\n`);
    reply('220 e2e-mail ESMTP');
    socket.on('data', (chunk) => {
      buffer += chunk;
      for (;;) {
        if (data !== null) {
          const end = buffer.indexOf('\r\n.\r\n');
          if (end < 0) return;
          data += buffer.slice(0, end);
          buffer = buffer.slice(end + 5);
          messages.push({ to: rcpt, raw: data.replace(/^\.\./gm, '.') });
          data = null;
          rcpt = [];
          reply('250 OK queued');
          continue;
        }
        const eol = buffer.indexOf('\r\n');
        if (eol < 0) return;
        const line = buffer.slice(0, eol);
        buffer = buffer.slice(eol + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO') { socket.write('250-e2e-mail\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n'); }
        else if (verb === 'HELO') reply('250 e2e-mail');
        else if (verb === 'MAIL') { rcpt = []; reply('250 OK'); }
        else if (verb === 'RCPT') { rcpt.push(line.replace(/^RCPT TO:\s*/i, '').replace(/[<>]/g, '').split(' ')[0]); reply('250 OK'); }
        else if (verb === 'DATA') { data = ''; reply('354 End data with <CR><LF>.<CR><LF>'); if (buffer.startsWith('.\r\n')) buffer = `\r\n${buffer}`; }
        else if (verb === 'QUIT') { reply('221 Bye'); socket.end(); return; }
        else if (verb === 'RSET') { rcpt = []; reply('250 OK'); }
        else if (verb === 'NOOP') reply('250 OK');
        else reply('502 Command not implemented');
      }
    });
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  return {
    url: `smtp://127.0.0.1:${port}`,
    messages,
    /** Waits for mail number `n` (1-based) to `to` and returns its 6-digit code. */
    async code(to, n) {
      for (let i = 0; i < 300; i += 1) {
        const mine = messages.filter((m) => m.to.some((r) => r.toLowerCase() === to.toLowerCase()));
        if (mine.length >= n) {
          // Undo quoted-printable soft breaks, then the first run of exactly six digits.
          const body = mine[n - 1].raw.replace(/=\r\n/g, '');
          const match = body.split('\r\n\r\n').slice(1).join('\n').match(/(?<!\d)\d{6}(?!\d)/);
          need(match, `no code in mail: ${body}`);
          return match[0];
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`mail ${n} to ${to} never arrived`);
    },
    close() { server.close(); },
  };
}

// --- the server ---

function binary() {
  const target = process.env.CARGO_TARGET_DIR || path.join(os.homedir(), '.cache/rollcall/target');
  const bin = process.env.ROLLCALL_BIN || path.join(target, 'debug', 'rollcall');
  need(fs.existsSync(bin), `no rollcall binary at ${bin}: build it with \`cargo build -p rollcall\` (scripts/e2e.sh does) or set ROLLCALL_BIN`);
  return bin;
}

/**
 * Starts `rollcall serve` on 127.0.0.1:0 (the port it got is read from its "listening" log
 * line) with a fresh data directory and the mail catcher.
 */
export async function startServer(mail, env = {}) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollcall-e2e-'));
  const log = [];
  // The embedded defaults (SQLite in the data dir, in-process store) whatever the caller's
  // environment says, except where the models and ONNX Runtime are.
  const inherited = Object.fromEntries(Object.entries(process.env)
    .filter(([k]) => !k.startsWith('ROLLCALL_') || k === 'ROLLCALL_MODEL_DIR'));
  const child = spawn(binary(), ['serve'], {
    env: {
      ...inherited,
      ROLLCALL_BIND: '127.0.0.1:0',
      ROLLCALL_DATA_DIR: dataDir,
      ROLLCALL_SMTP_URL: mail.url,
      ROLLCALL_LOG_FORMAT: 'json',
      ROLLCALL_LOG: 'info',
      ROLLCALL_MODEL_DIR: process.env.ROLLCALL_MODEL_DIR || path.resolve(repo, '../shared/models'),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const base = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`rollcall did not start in 120 s:\n${log.join('')}`)), 120_000);
    const read = (chunk) => {
      const text = chunk.toString();
      log.push(text);
      const match = text.match(/"message":"listening".*?"addr":"([^"]+)"|"addr":"([^"]+)".*?"message":"listening"/);
      if (match) { clearTimeout(timer); resolve(`http://${match[1] || match[2]}`); }
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`rollcall exited with ${code}:\n${log.join('')}`)); });
  });
  return {
    base,
    log,
    async stop() {
      child.kill('SIGTERM');
      await Promise.race([once(child, 'exit'), new Promise((r) => setTimeout(r, 10_000))]);
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

// --- the browser ---

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

export async function startBrowser() {
  need(fs.existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: install Debian's \`chromium\` (apt-get install -y chromium; scripts/e2e.sh does) or set CHROMIUM_PATH`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream'],
  });
}

export const VIEWPORTS = {
  phone: { width: 390, height: 844 },
  laptop: { width: 1366, height: 768 },
};

/** A page at `viewport` whose console and page errors are recorded. */
export async function newPage(browser, viewport, base) {
  const context = await browser.newContext({
    viewport, baseURL: base, acceptDownloads: true, permissions: ['camera'], timezoneId: 'UTC',
    isMobile: viewport.width < 500, hasTouch: viewport.width < 500,
  });
  const page = await context.newPage();
  page.consoleLines = [];
  page.problems = [];
  page.on('console', (m) => {
    page.consoleLines.push(`[${m.type()}] ${m.text()}`);
    // An expected 4xx answer is logged by Chromium as a failed resource load; those are
    // checked by the tests themselves. Anything else at error level is a problem.
    if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) {
      page.problems.push(m.text());
    }
  });
  page.on('pageerror', (e) => { page.consoleLines.push(`[pageerror] ${e.message}`); page.problems.push(e.message); });
  return page;
}

const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** Runs axe-core on the page; fails on any serious or critical violation. */
export async function checkA11y(page, what) {
  // Injected through the debugging protocol, not a <script>: the app's CSP stays intact.
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => globalThis.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
  }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  if (bad.length) {
    const text = bad.map((v) => `${v.impact} ${v.id}: ${v.help}\n  ${v.nodes.slice(0, 5).map((n) => n.target.join(' ')).join('\n  ')}`).join('\n');
    throw new Error(`axe on ${what}: ${bad.length} serious/critical violation(s):\n${text}`);
  }
  page.axeChecked = (page.axeChecked || 0) + 1;
  return result;
}

/** Saves a screenshot and the console of `page` under artifacts/<name>. */
export async function saveArtifacts(page, name) {
  fs.mkdirSync(artifacts, { recursive: true });
  const base = path.join(artifacts, name.replace(/[^a-z0-9-]+/gi, '_'));
  try { await page.screenshot({ path: `${base}.png`, fullPage: true }); } catch { /* page gone */ }
  fs.writeFileSync(`${base}.console.txt`, (page.consoleLines || []).join('\n'));
  return base;
}

/**
 * Runs `body(page)` on a fresh page; on failure saves a screenshot and the console next to
 * the test output (web/e2e/artifacts/) and rethrows.
 */
export async function withPage(browser, viewport, base, name, body) {
  const page = await newPage(browser, viewport, base);
  try {
    await body(page);
    if (page.problems.length) throw new Error(`console errors:\n${page.problems.join('\n')}`);
  } catch (error) {
    const saved = await saveArtifacts(page, name);
    error.message += `\n(screenshot and console: ${saved}.png, ${saved}.console.txt)`;
    throw error;
  } finally {
    await page.context().close();
  }
}
