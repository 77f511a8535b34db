#!/usr/bin/env node
// End-to-end test of the packaged extension in a real VS Code: code-server 4.99 driven by
// headless Debian Chromium through playwright-core (installed by scripts/setup-e2e.sh).
//
// Env:
//   SEED_CODER_E2E_SERVER     JSON array: command + args that start the language server (required)
//   SEED_CODER_E2E_MODEL      value for seedCoder.model (optional)
//   SEED_CODER_E2E_DOWNLOAD   a registry model name that is not downloaded yet (optional): it becomes
//                             seedCoder.model, the status must show the error, then the command
//                             "Seed-Coder: Download Model" must fetch it (HF_ENDPOINT: a stand-in hub)
//   SEED_CODER_E2E_EXPECT     text the server suggests at the blank indented line (required)
//   SEED_CODER_E2E_EXPECT_WORD  text suggested right after typing `x` on a fresh line (default: EXPECT)
//   SEED_CODER_E2E_DOCUMENT   Python document to open (default below); BLANK_LINE is its 1-based
//   SEED_CODER_E2E_BLANK_LINE   line number of a whitespace-only line inside a function
//   SEED_CODER_E2E_WORD_LINES  comma-separated 1-based empty lines (below BLANK_LINE) where `x` is
//                             typed (default 8,11: mid-file and the last line, i.e. end of file)
//   SEED_CODER_E2E_NEXT_EDIT_MODEL  a Zeta-format GGUF (optional): after the completion checks it
//                             becomes seedCoder.nextEditModel, and (f) checks next edits in
//                             NEXT_EDIT_FILE (NEXT_EDIT_BEFORE -> type NEXT_EDIT_TYPED at
//                             NEXT_EDIT_AT, 1-based line:col -> NEXT_EDIT_AFTER after Tab, Tab)
//   SEED_CODER_E2E_VSIX       packaged extension (default: ../seed-coder-lsp.vsix)
//   SEED_CODER_E2E_DIR        setup dir (default: ../.e2e)
//   SEED_CODER_E2E_ARTIFACTS  where a failure leaves screenshot + logs (default: ../e2e-artifacts)
//   SEED_CODER_E2E_TIMEOUT_MS per-step wait (default 90000)
//   SEED_CODER_E2E_KEEP       keep the temp dir (user data, logs, workspace) after the run
// Checks: (e) with SEED_CODER_E2E_DOWNLOAD, the download command, (f) next edits, (c) status bar ready, (a) ghost text + Tab at a blank line in a function, (b) after a
// typed word, (d) Seed-Coder: Toggle -> "disabled" and back.
// Exit code 0 = all checks passed, 1 = a check failed (artifacts saved), 2 = bad setup.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const E2E = process.env.SEED_CODER_E2E_DIR || path.join(HERE, '.e2e');
const VSIX = process.env.SEED_CODER_E2E_VSIX || path.join(HERE, 'seed-coder-lsp.vsix');
const ARTIFACTS = process.env.SEED_CODER_E2E_ARTIFACTS || path.join(HERE, 'e2e-artifacts');
const TIMEOUT = Number(process.env.SEED_CODER_E2E_TIMEOUT_MS || 90000);
const CODE_SERVER = path.join(E2E, 'node_modules/code-server/out/node/entry.js');
const CHROMIUM = process.env.SEED_CODER_E2E_CHROMIUM || '/usr/bin/chromium';
const FILE_NAME = 'sample.py';
const DEFAULT_DOCUMENT = [
  'def compute(n):',
  '    return n * 2',
  '',
  '',
  'def main():',
  '    ',
  '',
  '',
  '',
  'print(main())',
  '',
].join('\n');
const DEFAULT_BLANK_LINE = 6;
const DEFAULT_WORD_LINES = '8,11'; // an empty line between two statements, and the end of the file

const t0 = Date.now();
const log = (msg) => console.log(`[e2e +${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}`);
const show = (s) => JSON.stringify(s);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
class SetupError extends Error {}

function env(name, fallback) {
  const v = process.env[name];
  if (v === undefined || v === '') {
    if (fallback === undefined) throw new SetupError(`environment variable ${name} is required`);
    return fallback;
  }
  return v;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitForHttp(url, deadline) {
  for (;;) {
    try {
      const res = await fetch(url, { redirect: 'manual' });
      if (res.status < 500) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`code-server did not answer at ${url}`);
    await sleep(250);
  }
}

/** Polls `fn` until it returns a truthy value; throws with `what` (and the last value) on timeout. */
async function until(what, fn, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(200);
  }
}

const nbsp = (s) => s.replace(/\u00a0/g, ' ');

async function main() {
  const server = JSON.parse(env('SEED_CODER_E2E_SERVER'));
  if (!Array.isArray(server) || server.length === 0) throw new SetupError('SEED_CODER_E2E_SERVER must be a non-empty JSON array');
  const expect = env('SEED_CODER_E2E_EXPECT');
  const expectWord = env('SEED_CODER_E2E_EXPECT_WORD', expect);
  const document = env('SEED_CODER_E2E_DOCUMENT', DEFAULT_DOCUMENT);
  const blankLine = Number(env('SEED_CODER_E2E_BLANK_LINE', String(DEFAULT_BLANK_LINE)));
  const lines = document.split('\n');
  if (!(blankLine >= 1 && blankLine <= lines.length && /^[ \t]+$/.test(lines[blankLine - 1]))) {
    throw new SetupError(`line ${blankLine} of the document is not a whitespace-only indented line`);
  }
  const wordLines = env('SEED_CODER_E2E_WORD_LINES', DEFAULT_WORD_LINES).split(',').map(Number).sort((a, b) => b - a);
  for (const n of wordLines) {
    if (!(n > blankLine && n <= lines.length && lines[n - 1] === '')) throw new SetupError(`word line ${n} must be an empty line below line ${blankLine}`);
  }
  for (const [p, what] of [[CODE_SERVER, 'code-server (run scripts/setup-e2e.sh)'], [CHROMIUM, 'chromium'], [VSIX, 'the .vsix (run npm run package)']]) {
    if (!fs.existsSync(p)) throw new SetupError(`${what} not found at ${p}`);
  }
  const { chromium } = createRequire(path.join(E2E, 'package.json'))('playwright-core');

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'seed-coder-e2e-'));
  const extDir = path.join(tmp, 'extensions');
  const userData = path.join(tmp, 'user-data');
  const workspace = path.join(tmp, 'workspace');
  fs.mkdirSync(path.join(userData, 'User'), { recursive: true });
  fs.mkdirSync(workspace);
  const filePath = path.join(workspace, FILE_NAME);
  fs.writeFileSync(filePath, document);
  const settings = {
    'security.workspace.trust.enabled': false,
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'workbench.enableExperiments': false,
    'extensions.ignoreRecommendations': true,
    'telemetry.telemetryLevel': 'off',
    'update.mode': 'none',
    'chat.commandCenter.enabled': false,
    'files.autoSave': 'off',
    'files.insertFinalNewline': false,
    'files.trimTrailingWhitespace': false,
    'editor.formatOnSave': false,
    'editor.inlineSuggest.enabled': true,
    // Keep the suggest widget away so that Tab goes to the inline suggestion.
    'editor.quickSuggestions': { other: 'off', comments: 'off', strings: 'off' },
    'editor.suggestOnTriggerCharacters': false,
    'editor.wordBasedSuggestions': 'off',
    'seedCoder.serverCommand': server,
    'seedCoder.debounceMs': 0,
    'seedCoder.logLevel': 'debug',
  };
  if (process.env.SEED_CODER_E2E_MODEL) settings['seedCoder.model'] = process.env.SEED_CODER_E2E_MODEL;
  if (process.env.SEED_CODER_E2E_NEXT_EDIT_MODEL) {
    settings['seedCoder.nextEditModel'] = process.env.SEED_CODER_E2E_NEXT_EDIT_MODEL;
    settings['seedCoder.nextEdit'] = false; // (f) turns them on, after the completion checks
  }
  const download = process.env.SEED_CODER_E2E_DOWNLOAD || '';
  if (download) settings['seedCoder.model'] = download;
  fs.writeFileSync(path.join(userData, 'User', 'settings.json'), JSON.stringify(settings, null, 2));
  log(`temp dir ${tmp}; server command ${show(server)}`);

  log(`installing ${path.basename(VSIX)}`);
  const inst = spawnSync(process.execPath, [CODE_SERVER, '--user-data-dir', userData, '--extensions-dir', extDir, '--install-extension', VSIX], { encoding: 'utf8' });
  if (inst.status !== 0 || !/successfully installed/i.test(inst.stdout + inst.stderr)) {
    throw new SetupError(`--install-extension failed (${inst.status}):\n${inst.stdout}\n${inst.stderr}`);
  }

  const port = await freePort();
  const url = `http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`;
  const csLog = fs.openSync(path.join(tmp, 'code-server.log'), 'w');
  const cs = spawn(process.execPath, [CODE_SERVER, '--auth', 'none', '--bind-addr', `127.0.0.1:${port}`, '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', '--user-data-dir', userData, '--extensions-dir', extDir, workspace], { detached: true, stdio: ['ignore', csLog, csLog], env: { ...process.env } });
  log(`code-server pid ${cs.pid} on port ${port}`);

  let browser;
  let page;
  const cleanup = async () => {
    await browser?.close().catch(() => {});
    try {
      process.kill(-cs.pid, 'SIGTERM');
    } catch {
      // already gone
    }
    await new Promise((r) => (cs.exitCode !== null ? r() : cs.once('exit', r) && setTimeout(r, 5000)));
    if (!process.env.SEED_CODER_E2E_KEEP) fs.rmSync(tmp, { recursive: true, force: true });
  };
  try {
    await waitForHttp(`http://127.0.0.1:${port}/healthz`, Date.now() + 60000);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on('pageerror', (e) => log(`page error: ${e.message}`));
    await page.goto(url);
    await page.waitForSelector('.monaco-workbench', { timeout: TIMEOUT });
    log('workbench loaded');

    // (c) the status bar item reaches "ready" (the model loads at startup).
    const statusItem = page.locator('#workbench\\.parts\\.statusbar .statusbar-item', { hasText: 'Seed-Coder' });
    const statusText = async () => {
      const n = await statusItem.count();
      if (n === 0) return '';
      const icon = await statusItem.first().locator('.codicon').first().getAttribute('class').catch(() => '');
      return `${(icon || '').match(/codicon-[\w-]+/g)?.filter((c) => c !== 'codicon-modifier-spin').join(' ') ?? ''} | ${nbsp(await statusItem.first().innerText()).trim()}`;
    };
    let lastStatus = '';
    const runCommand = async (title) => {
      await page.keyboard.press('F1');
      await page.waitForSelector('.quick-input-widget .quick-input-box input', { state: 'visible' });
      await page.keyboard.type(title);
      await until(`"${title}" in the command palette`, () => page.locator('.quick-input-list .monaco-list-row', { hasText: title }).count(), 10000);
      await page.keyboard.press('Enter');
    };
    if (download) {
      // (e) The model is not on disk: the server says so (and never fetches it unasked) until the
      // user runs the download command.
      await until('the status bar to show that the model is not downloaded', async () => {
        const s = await statusText();
        if (s !== lastStatus) log(`status bar: ${show(s)}`);
        lastStatus = s;
        return s.includes('codicon-error');
      });
      await runCommand('Seed-Coder: Download Model');
      log('(e) ran "Seed-Coder: Download Model"');
    }
    await until('the Seed-Coder status bar item to show ready ($(check))', async () => {
      const s = await statusText();
      if (s !== lastStatus) log(`status bar: ${show(s)}`);
      lastStatus = s;
      if (s.includes('codicon-error') && !download) throw new Error(`status bar shows an error: ${s} (tooltip in the extension log)`);
      return s.includes('codicon-check');
    });
    if (download) log('PASS (e) the download command fetched the model and the server loaded it');
    log('PASS (c) status bar ready');

    // Open the file.
    await page.keyboard.press('Control+P');
    await page.waitForSelector('.quick-input-widget .quick-input-box input', { state: 'visible' });
    await page.keyboard.type(FILE_NAME);
    await until('quick open to list the file', () => page.locator('.quick-input-list .monaco-list-row', { hasText: FILE_NAME }).count());
    await page.keyboard.press('Enter');
    await page.waitForSelector(`.tab[data-resource-name="${FILE_NAME}"], .tab:has-text("${FILE_NAME}")`, { timeout: TIMEOUT });
    const editor = page.locator('.editor-instance .monaco-editor').first();
    await editor.locator('.view-lines').waitFor();
    await editor.locator('.view-lines').click();
    log('file open');

    const ghost = editor.locator('.ghost-text-decoration, .ghost-text-decoration-preview, .suggest-preview-text');

    // Ghost text: the first line is spans in the cursor's line, further lines a view zone below it.
    const ghostText = () =>
      editor.evaluate((ed) => {
        const first = [...ed.querySelectorAll('.view-lines .ghost-text-decoration')].map((e) => e.textContent).join('');
        const more = [...ed.querySelectorAll('.view-zones .suggest-preview-text .view-line, .view-zones .ghost-text-decoration-preview')]
          .map((e) => e.textContent);
        return [first, ...more].join('\n').replace(/\u00a0/g, ' ');
      });
    const gotoLine = async (line) => {
      await page.keyboard.press('Control+G');
      await page.waitForSelector('.quick-input-widget .quick-input-box input', { state: 'visible' });
      await page.keyboard.type(String(line));
      await page.keyboard.press('Enter');
      await page.keyboard.press('End');
    };
    const save = async () => {
      await page.keyboard.press('Control+S');
      await sleep(300);
    };
    const waitSaved = (want, what) =>
      until(`${what}: file on disk equal to the expected text`, () => fs.readFileSync(filePath, 'utf8') === want, 10000).catch((e) => {
        throw new Error(`${e.message}\n  expected: ${show(want)}\n  actual:   ${show(fs.readFileSync(filePath, 'utf8'))}`);
      });
    const waitGhost = async (what, want) => {
      await until(`${what}: ghost text ${show(want)}`, async () => (await ghost.count()) > 0 && (await ghostText()) === want, TIMEOUT).catch(async (e) => {
        throw new Error(`${e.message}; ghost text now: ${show(await ghostText())}`);
      });
      log(`${what}: ghost text shown: ${show(await ghostText())}`);
    };
    const trigger = async (what) => {
      // VS Code requests inline completions as you type, not when the cursor merely moves there.
      log(`${what}: running "Trigger Inline Suggestion" from the command palette`);
      await runCommand('Trigger Inline Suggestion');
    };

    // (a) Blank indented line inside a function: the multi-line infill shows and Tab inserts it.
    await gotoLine(blankLine);
    await trigger('(a)');
    await waitGhost('(a)', expect);
    await page.keyboard.press('Tab');
    // The next suggestion may show at once (the server computed it while the first one was on
    // screen): the file on disk, not the ghost text, tells that Tab inserted exactly the infill.
    await save();
    const cursorOffset = lines.slice(0, blankLine).join('\n').length;
    const afterA = document.slice(0, cursorOffset) + expect + document.slice(cursorOffset);
    await waitSaved(afterA, '(a)');
    log('PASS (a) blank line in a function: Tab inserted exactly the infill');

    // (b) Type a word on a fresh line: the suggestion sits right after the word; Tab leaves x + infill.
    // Bottom-up, so that each insertion leaves the lines above (still to do) where they were.
    let current = afterA;
    const shift = expect.split('\n').length - 1;
    for (const original of wordLines) {
      const line = original + shift;
      const what = `(b) line ${line}${line === current.split('\n').length ? ' (end of file)' : ''}`;
      await gotoLine(line);
      await page.keyboard.type('x');
      await waitGhost(what, expectWord);
      const ghostLine = editor.locator('.view-lines .view-line', { has: page.locator('.ghost-text-decoration') }).first();
      const lineText = nbsp(await ghostLine.innerText());
      if (!lineText.startsWith('x' + expectWord.split('\n')[0])) {
        throw new Error(`${what}: the ghost text is not right after "x": the line shows ${show(lineText)}`);
      }
      await page.keyboard.press('Tab');
      await save();
      const start = current.split('\n').slice(0, line - 1).join('\n').length + (line > 1 ? 1 : 0);
      current = current.slice(0, start) + 'x' + expectWord + current.slice(start);
      await waitSaved(current, what);
      log(`PASS ${what}: x + infill`);
    }

    // (d) Seed-Coder: Toggle flips seedCoder.enable; the server hears it and reports "disabled".
    await runCommand('Seed-Coder: Toggle Inline Completions');
    await until('the status bar to show disabled ($(circle-slash))', async () => (await statusText()).includes('codicon-circle-slash'));
    log(`PASS (d) toggle off: status bar ${show(await statusText())}`);
    await runCommand('Seed-Coder: Toggle Inline Completions');
    await until('the status bar to show ready again', async () => (await statusText()).includes('codicon-check'));
    log(`PASS (d) toggle on: status bar ${show(await statusText())}`);

    const nextModel = process.env.SEED_CODER_E2E_NEXT_EDIT_MODEL;
    if (nextModel) {
      await checkNextEdits(page, workspace, runCommand, save);
    }

    // (c) again: still ready after completions (now with a latency).
    log(`status bar at the end: ${show(await statusText())}`);
    if (!(await statusText()).includes('codicon-check')) throw new Error('(c): status bar is not ready at the end');
    log('ALL PASSED');
    await cleanup();
    return 0;
  } catch (err) {
    log(`FAIL: ${err.stack || err}`);
    await saveArtifacts(page, tmp, userData);
    await cleanup();
    return 1;
  }
}

/** (f) Next edits: the user adds a parameter; the call's new argument is drawn beside it, Escape
 * hides it (the file unchanged), "Suggest Next Edit" shows it again, Tab jumps there, Tab applies. */
async function checkNextEdits(page, workspace, runCommand, save) {
  const name = env('SEED_CODER_E2E_NEXT_EDIT_FILE', 'area.py');
  const before = env('SEED_CODER_E2E_NEXT_EDIT_BEFORE');
  const typed = env('SEED_CODER_E2E_NEXT_EDIT_TYPED');
  const [atLine, atCol] = env('SEED_CODER_E2E_NEXT_EDIT_AT').split(':').map(Number);
  const after = env('SEED_CODER_E2E_NEXT_EDIT_AFTER');
  const shownText = env('SEED_CODER_E2E_NEXT_EDIT_SHOWN');
  const file = path.join(workspace, name);
  fs.writeFileSync(file, before);
  // seedCoder.nextEditModel was set from the start with seedCoder.nextEdit off; on now
  await runCommand('Seed-Coder: Toggle Next Edits');
  log('(f) next edits turned on ("Seed-Coder: Toggle Next Edits")');
  await page.keyboard.press('Control+P');
  await page.waitForSelector('.quick-input-widget .quick-input-box input', { state: 'visible' });
  await page.keyboard.type(name);
  await until('quick open to list the file', () => page.locator('.quick-input-list .monaco-list-row', { hasText: name }).count());
  await page.keyboard.press('Enter');
  await page.waitForSelector(`.tab[data-resource-name="${name}"]`, { timeout: TIMEOUT });
  const ed = page.locator('.editor-instance .monaco-editor').first();
  await ed.locator('.view-lines').click();
  // The decoration's new text is a CSS ::after of a span in the line (not document text).
  const decorated = () =>
    ed.evaluate((root) => {
      const out = [];
      for (const el of root.querySelectorAll('.view-lines span')) {
        const c = getComputedStyle(el, '::after').content;
        if (c && c !== 'none' && c !== 'normal') out.push(c.replace(/^"|"$/g, ''));
      }
      return out.join('|');
    });
  const waitShown = (what) => until(`${what}: the next edit ${show(shownText)} drawn`, async () => (await decorated()).includes(shownText), TIMEOUT);
  // the next-edit model loads in the background: retry the edit's request until it is shown
  await page.keyboard.press('Control+G');
  await page.keyboard.type(`${atLine}:${atCol}`);
  await page.keyboard.press('Enter');
  await page.keyboard.type(typed);
  await until('(f) a next edit after the typed change', async () => {
    if ((await decorated()).includes(shownText)) return true;
    await runCommand('Seed-Coder: Suggest Next Edit');
    await sleep(1000);
    return (await decorated()).includes(shownText);
  }, TIMEOUT);
  log(`(f) next edit drawn: ${show(await decorated())}`);
  await page.keyboard.press('Escape');
  await until('(f) Escape hides the next edit', async () => !(await decorated()).includes(shownText), 10000);
  await save();
  const typedText = fs.readFileSync(file, 'utf8');
  if (typedText === after) throw new Error('(f) Escape applied the edit');
  log('PASS (f) Escape dismissed it, the file unchanged');
  await runCommand('Seed-Coder: Suggest Next Edit');
  await waitShown('(f) asked again');
  await page.keyboard.press('Tab'); // jump
  await sleep(300);
  if (!(await decorated()).includes(shownText)) throw new Error('(f) the first Tab did not keep the edit shown');
  await page.keyboard.press('Tab'); // apply
  await save();
  await until('(f) Tab, Tab applied the edit', () => fs.readFileSync(file, 'utf8') === after, 10000).catch((e) => {
    throw new Error(`${e.message}\n  expected: ${show(after)}\n  actual:   ${show(fs.readFileSync(file, 'utf8'))}`);
  });
  log('PASS (f) Tab jumped to the next edit and Tab applied it exactly');
}

async function saveArtifacts(page, tmp, userData) {
  const dir = path.join(ARTIFACTS, new Date().toISOString().replace(/[:.]/g, '-'));
  fs.mkdirSync(dir, { recursive: true });
  try {
    if (page) {
      await page.screenshot({ path: path.join(dir, 'screenshot.png'), timeout: 10000 });
      fs.writeFileSync(path.join(dir, 'statusbar.txt'), await page.locator('#workbench\\.parts\\.statusbar').innerText({ timeout: 2000 }).catch(() => ''));
      fs.writeFileSync(path.join(dir, 'editor.html'), await page.locator('.editor-instance .monaco-editor').first().evaluate((e) => e.outerHTML, null, { timeout: 2000 }).catch(() => ''));
      fs.writeFileSync(path.join(dir, 'editor.txt'), nbsp(await page.locator('.monaco-editor .view-lines').first().innerText({ timeout: 2000 }).catch(() => '')));
    }
  } catch (e) {
    log(`could not capture the page: ${e.message}`);
  }
  const logs = path.join(userData, 'logs');
  if (fs.existsSync(logs)) fs.cpSync(logs, path.join(dir, 'logs'), { recursive: true });
  if (fs.existsSync(path.join(tmp, 'code-server.log'))) fs.copyFileSync(path.join(tmp, 'code-server.log'), path.join(dir, 'code-server.log'));
  // Print the extension's own log (its output channel, with the server's stderr) for CI logs.
  for (const f of findFiles(path.join(dir, 'logs'), (p) => /seed-coder|Seed-Coder/.test(p) || /exthost\.log$/.test(p))) {
    const text = fs.readFileSync(f, 'utf8');
    console.log(`----- ${path.relative(dir, f)} (last 60 lines) -----\n${text.split('\n').slice(-60).join('\n')}`);
  }
  log(`artifacts saved in ${dir}`);
}

function findFiles(dir, pred) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath ?? e.path, e.name))
    .filter(pred);
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`[e2e] ${err instanceof SetupError ? 'setup error' : 'error'}: ${err.stack || err}`);
    process.exit(2);
  },
);
