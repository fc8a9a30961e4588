/* tests/clients/ioredis_cases.js - ioredis used as its users use it,
 * one case per run (`node ioredis_cases.js <case> <config JSON>`, started
 * by run.py): the README's first example, pipelines that read their own
 * writes, MULTI/EXEC, db 1, a node restarted under the client, and the
 * Sentinel configuration through a kill -9 of the leader. Each case ends
 * with one RESULT line (common.js) within its time limit. */
'use strict';

const Redis = require('ioredis');
const { eq, check, tell, main, incrThroughFailover } = require('./common');

/* A client of node i as a user configures one: host, port, and (here)
 * bounded waits. Errors it emits are kept for the case to look at. */
function client(cfg, i, extra) {
  const [host, port] = cfg.nodes[i];
  const r = new Redis({ host, port, connectTimeout: 3000, ...extra });
  r.errors = [];
  r.on('error', e => r.errors.push(e.message));
  return r;
}

/* The README's first example, word for word but for the address and the
 * value: `redis.set("mykey", "value"); redis.get("mykey", cb)`, on a
 * fresh client each time, 8 times on every node. Each value differs from
 * the previous run's, so a GET that ran before its SET is seen. */
async function gettingStarted(cfg, state) {
  const RUNS = 8;
  const bad = [];
  for (let i = 0; i < cfg.nodes.length; i++) {
    for (let run = 0; run < RUNS; run++) {
      state.step = `node ${i + 1} run ${run}`;
      const redis = client(cfg, i);
      const value = `value-${i}-${run}`;
      redis.set(cfg.prefix + 'mykey', value);
      const got = await new Promise((res, rej) => {
        redis.get(cfg.prefix + 'mykey', (err, result) => (err ? rej(err) : res(result)));
      });
      if (got !== value) bad.push(`node ${i + 1} run ${run}: got ${got}, want ${value}`);
      await redis.quit();
    }
  }
  state.step = 'the replies';
  check(bad.length === 0, `${bad.length} of ${RUNS * cfg.nodes.length} runs read an old value: ` +
    bad.join('; '));
  return { msg: `${RUNS * cfg.nodes.length} runs` };
}

/* `pipeline().set(k, v).get(k)` 500 times (50 at a time in flight on one
 * connection) after k was set to "old", then `INCR n; GET n; INCR n;
 * GET n` as one pipeline on 20 fresh keys; on the leader and on a
 * follower. Every GET must see the SET or INCR sent before it. */
async function pipelineOwnWrites(cfg, state) {
  const report = [];
  const problems = [];
  for (const [role, i] of [['leader', cfg.leader], ['follower', cfg.follower]]) {
    const r = client(cfg, i);
    let stale = 0;
    let first = '';
    for (let round = 0; round < 10; round++) {
      state.step = `SET/GET round ${round} on the ${role}`;
      const keys = Array.from({ length: 50 }, (_, k) => `${cfg.prefix}${role}:p${round}:${k}`);
      await r.mset(...keys.flatMap(k => [k, 'old']));
      const res = await Promise.all(keys.map(k => r.pipeline().set(k, 'new').get(k).exec()));
      for (const x of res) {
        if (JSON.stringify(x) !== JSON.stringify([[null, 'OK'], [null, 'new']])) {
          stale++;
          first = first || JSON.stringify(x);
        }
      }
    }
    state.step = `${role}: INCR/GET pipelines`;
    const keys = Array.from({ length: 20 }, (_, k) => `${cfg.prefix}${role}:n${k}`);
    const res = await Promise.all(
      keys.map(n => r.pipeline().incr(n).get(n).incr(n).get(n).exec()));
    const want = JSON.stringify([[null, 1], [null, '1'], [null, 2], [null, '2']]);
    const badIncr = res.filter(x => JSON.stringify(x) !== want);
    if (stale || badIncr.length) {
      problems.push(`${role}: ${stale} of 500 SET/GET pipelines read an old value ` +
        `(first: ${first}); ${badIncr.length} of 20 INCR/GET pipelines wrong ` +
        `(first: ${JSON.stringify(badIncr[0])})`);
    }
    report.push(`${role}: 500 SET/GET, 20 INCR/GET`);
    await r.quit();
  }
  state.step = 'the replies';
  check(problems.length === 0, problems.join('; '));
  return { msg: report.join('; ') };
}

/* `multi().set(k, v).incr(c).get(k).exec()` on the leader and on a
 * follower: the replies of the three commands, the effects seen from
 * another node afterwards; and a transaction whose INCR fails at run
 * time: Redis runs the others and answers that one with its error. */
async function multiExec(cfg, state) {
  for (const [role, i, other] of [['leader', cfg.leader, cfg.follower],
    ['follower', cfg.follower, cfg.leader]]) {
    state.step = `${role}: MULTI/EXEC`;
    const r = client(cfg, i);
    const k = `${cfg.prefix}${role}:m`;
    const c = `${cfg.prefix}${role}:c`;
    eq(await r.multi().set(k, 'v1').incr(c).get(k).exec(),
      [[null, 'OK'], [null, 1], [null, 'v1']], `${role}: EXEC`);
    const o = client(cfg, other);
    eq([await o.get(k), await o.get(c)], ['v1', '1'], `${role}: read from another node after`);
    state.step = `${role}: MULTI/EXEC with a failing INCR`;
    const res = await r.multi().set(k, 'abc').incr(k).get(k).exec();
    eq(res.map(([e, v]) => (e ? e.message : v)),
      ['OK', 'ERR value is not an integer or out of range', 'abc'], `${role}: EXEC`);
    await r.quit();
    await o.quit();
  }
  return { msg: 'leader and follower' };
}

/* `new Redis({db: 1})` on a follower: no error, a key it sets is read
 * back in db 1, still after a reconnect, and is not in db 0 (a client of
 * the leader). */
async function selectDb1(cfg, state) {
  const k = cfg.prefix + 'db1key';
  state.step = 'SET in db 1';
  const r1 = client(cfg, cfg.follower, { db: 1 });
  await r1.set(k, 'in-db1');
  eq(await r1.get(k), 'in-db1', 'GET in db 1');
  state.step = 'db 0';
  const r0 = client(cfg, cfg.leader);
  eq(await r0.get(k), null, 'GET in db 0');
  eq(await r0.exists(k), 0, 'EXISTS in db 0');
  state.step = 'GET in db 1 after a reconnect';
  r1.disconnect(true);
  eq(await r1.get(k), 'in-db1', 'GET in db 1 after a reconnect');
  eq(r1.errors, [], 'errors emitted by the db 1 client');
  await r1.quit();
  await r0.quit();
  return { msg: '' };
}

/* A client of node `target` keeps working when that node is restarted:
 * the driver kills it (kill -9) and starts it again between the SET and
 * the GET; the same client object reads the value and writes again. */
async function reconnect(cfg, state) {
  const k = cfg.prefix + 'restart';
  const r = client(cfg, cfg.target);
  state.step = 'SET before the restart';
  eq(await r.set(k, 'before'), 'OK', 'SET');
  state.step = 'waiting for the driver to restart the node';
  await tell('ready', true);
  state.step = 'GET after the restart';
  eq(await r.get(k), 'before', 'GET after the restart');
  eq(await r.set(k, 'after'), 'OK', 'SET after the restart');
  eq(await r.get(k), 'after', 'GET after the second SET');
  r.disconnect();
  return { msg: `${r.errors.length} connection errors while the node was down` };
}

/* `new Redis({sentinels: [the three nodes], name})`: INCRs through a
 * kill -9 of the leader (common.js's loop; run.py checks that no
 * acknowledged write is lost and none applied twice). ioredis re-sends a
 * command whose reply was lost by default (autoResendUnfulfilledCommands);
 * no server can tell such a resent INCR from a new one, with Redis
 * Sentinel as with keel, so here it is off and the lost reply is an
 * error, which the check counts as "maybe applied". */
async function sentinel(cfg, state) {
  const r = new Redis({
    sentinels: cfg.nodes.map(([host, port]) => ({ host, port })),
    name: cfg.master,
    connectTimeout: 2000,
    sentinelRetryStrategy: times => Math.min(times * 100, 1000),
    autoResendUnfulfilledCommands: false,
  });
  r.on('error', () => {});
  const res = await incrThroughFailover(cfg, state, k => r.incr(k), k => r.get(k));
  r.disconnect();
  return res;
}

/* CLIENT INFO of an ioredis connection names the library and its
 * version, as ioredis sets them with CLIENT SETINFO on connect. */
async function libName(cfg, state) {
  const r = client(cfg, cfg.leader);
  state.step = 'CLIENT INFO';
  await r.ping();
  const info = await r.client('INFO');
  const ver = require('ioredis/package.json').version;
  const field = (name, value) => info.split(/\s+/).includes(`${name}=${value}`);
  check(field('lib-name', 'ioredis') && field('lib-ver', ver),
    `CLIENT INFO lacks lib-name=ioredis lib-ver=${ver}: ${info.trim()}`);
  await r.quit();
  return { msg: '' };
}

main({
  getting_started: gettingStarted,
  pipeline: pipelineOwnWrites,
  multi_exec: multiExec,
  select_db1: selectDb1,
  reconnect,
  sentinel,
  lib_name: libName,
});
