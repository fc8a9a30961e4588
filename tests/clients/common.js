/* tests/clients/common.js - what the Node.js client cases share: the
 * configuration the driver (run.py) passes as JSON, a watchdog that ends
 * the process with a failure once its time is up, a line-by-line
 * handshake with the driver over stdin/stdout, and the one RESULT line
 * every case ends with. A case never outlives its watchdog. */
'use strict';

const readline = require('readline');

/* argv: <case> <config JSON>. The config: nodes [[host, port], ...],
 * leader and follower (indexes into nodes), prefix (for keys of this
 * run), master (the Sentinel master name), time_s (the case's limit). */
function config() {
  const name = process.argv[2];
  const cfg = JSON.parse(process.argv[3]);
  cfg.name = name;
  return cfg;
}

let finished = false;

/* Prints the case's one result line and exits: ok true/false, a message,
 * and data for the driver to check (null when there is none). */
function finish(ok, msg, data) {
  if (finished) return;
  finished = true;
  process.stdout.write('RESULT ' + JSON.stringify({ ok, msg, data: data ?? null }) + '\n',
    () => process.exit(ok ? 0 : 1));
}

/* The case fails, with what was seen, if it has not finished after
 * time_s seconds (a client that waits forever is a failure). */
function watchdog(cfg, what) {
  setTimeout(() => finish(false, `timed out after ${cfg.time_s} s: ${what()}`),
    cfg.time_s * 1000);
}

const lines = [];
const waiters = [];
const rl = readline.createInterface({ input: process.stdin });
rl.on('line', l => {
  const w = waiters.shift();
  if (w) w(l); else lines.push(l);
});

/* Tells the driver something (one line) and, when reply is true, waits
 * for its answer line. */
function tell(line, reply) {
  process.stdout.write(line + '\n');
  if (!reply) return Promise.resolve(null);
  if (lines.length) return Promise.resolve(lines.shift());
  return new Promise(res => waiters.push(res));
}

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

function eq(got, want, what) {
  const g = JSON.stringify(got);
  const w = JSON.stringify(want);
  if (g !== w) throw new Error(`${what}: got ${g}, want ${w}`);
}

const sleep = ms => new Promise(res => setTimeout(res, ms));

/* Runs the case function named by argv[2] from the table, with the
 * watchdog; an exception is the case's failure message. */
function main(table) {
  const cfg = config();
  const fn = table[cfg.name];
  if (!fn) {
    finish(false, `no case ${cfg.name}`);
    return;
  }
  const state = { step: 'starting' };
  watchdog(cfg, () => state.step);
  fn(cfg, state).then(
    r => finish(true, (r && r.msg) || '', r && r.data),
    e => finish(false, `${state.step}: ${e && e.message ? e.message : e}`));
}

/* Rejects with `what` if p has not settled after ms milliseconds. */
function within(ms, p, what) {
  let t;
  const limit = new Promise((_, rej) => {
    t = setTimeout(() => rej(new Error(`${what}: no answer in ${ms} ms`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(t));
}

const INCR_WAIT_MS = 10000; // one INCR's wait, failover included
const BEFORE_KILL_MS = 15000; // for the first `before` acknowledgements

/* Sequential INCRs of one key through a client for as long as the driver
 * needs: tells it `writing` after `before` acknowledgements, waits for
 * its `killed`, goes on until `after` more, then reads the key. Each
 * reply is recorded in order: the value, or "E" for an error or no reply
 * in INCR_WAIT_MS (a write that may or may not have been applied). The
 * driver checks the history. */
async function incrThroughFailover(cfg, state, incr, get) {
  const key = cfg.prefix + 'counter';
  const history = [];
  const start = Date.now();
  let acked = 0;
  let killed = false;
  let killedAt = 0;
  let handshake = null;
  let lastError = '';
  while (true) {
    if (!killed && acked >= cfg.before && !handshake) {
      handshake = tell('writing', true).then(() => {
        killed = true;
        killedAt = acked;
      });
    }
    if (killed && acked - killedAt >= cfg.after) break;
    check(handshake || Date.now() - start < BEFORE_KILL_MS,
      `${acked} INCRs acknowledged in ${BEFORE_KILL_MS} ms before any kill (${lastError})`);
    state.step = `INCR ${history.length + 1} (${acked} acknowledged, killed: ${killed}, ` +
      `last error: ${lastError})`;
    try {
      history.push(Number(await within(INCR_WAIT_MS, incr(key), 'INCR')));
      acked++;
    } catch (e) {
      history.push('E');
      lastError = e && e.message;
      await sleep(50);
    }
  }
  state.step = 'final GET';
  let last;
  for (let t = 0; t < 50; t++) {
    try {
      return { data: { history, final: Number(await get(key)), acked_after: acked - killedAt } };
    } catch (e) {
      last = e;
      await sleep(100);
    }
  }
  throw last;
}

module.exports = { config, finish, tell, check, eq, sleep, within, main, incrThroughFailover };
