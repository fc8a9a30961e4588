/* tests/clients/node_redis_cases.js - node-redis (npm `redis`) used as its
 * users use it, one case per run (`node node_redis_cases.js <case>
 * <config JSON>`, started by run.py): the README's example, pipelines
 * that read their own writes, MULTI/EXEC, `database: 1` and a /1 URL, a
 * node restarted under the client, and createSentinel through a kill -9
 * of the leader. Each case ends with one RESULT line (common.js) within
 * its time limit. */
'use strict';

const { createClient, createSentinel } = require('redis');
const { eq, check, tell, within, main, incrThroughFailover } = require('./common');

/* A connected client of node i (the README's createClient().on('error')
 * .connect()), with bounded waits; errors it emits are kept. */
async function client(cfg, i, extra) {
  const [host, port] = cfg.nodes[i];
  const c = createClient({ socket: { host, port, connectTimeout: 3000 }, ...extra });
  c.errors = [];
  c.on('error', e => c.errors.push(e.message));
  await within(8000, c.connect(), `connect to node ${i + 1}`);
  return c;
}

/* The README's example: createClient, connect, `await client.set(...)`,
 * `await client.get(...)`, destroy; 4 fresh clients on every node. */
async function gettingStarted(cfg, state) {
  for (let i = 0; i < cfg.nodes.length; i++) {
    for (let run = 0; run < 4; run++) {
      state.step = `node ${i + 1} run ${run}`;
      const c = await client(cfg, i);
      const value = `value-${i}-${run}`;
      eq(await c.set(cfg.prefix + 'key', value), 'OK', `${state.step}: SET`);
      eq(await c.get(cfg.prefix + 'key'), value, `${state.step}: GET`);
      c.destroy();
    }
  }
  return { msg: `${4 * cfg.nodes.length} runs` };
}

/* `Promise.all([client.set(k, 'x'), client.get(k)])` 500 times (50 pairs
 * in flight at once) after k was set to "old", and `INCR n; GET n;
 * INCR n; GET n` sent together on 20 fresh keys; on the leader and on a
 * follower. Every GET must see what was sent before it. */
async function pipelineOwnWrites(cfg, state) {
  const report = [];
  const problems = [];
  for (const [role, i] of [['leader', cfg.leader], ['follower', cfg.follower]]) {
    const c = await client(cfg, i);
    let stale = 0;
    let first = '';
    for (let round = 0; round < 10; round++) {
      state.step = `SET/GET round ${round} on the ${role}`;
      const keys = Array.from({ length: 50 }, (_, k) => `${cfg.prefix}${role}:p${round}:${k}`);
      await c.mSet(keys.map(k => [k, 'old']));
      const res = await Promise.all(keys.map(k => Promise.all([c.set(k, 'x'), c.get(k)])));
      for (const x of res) {
        if (JSON.stringify(x) !== '["OK","x"]') {
          stale++;
          first = first || JSON.stringify(x);
        }
      }
    }
    state.step = `${role}: INCR/GET`;
    const keys = Array.from({ length: 20 }, (_, k) => `${cfg.prefix}${role}:n${k}`);
    const res = await Promise.all(keys.map(n =>
      Promise.all([c.incr(n), c.get(n), c.incr(n), c.get(n)])));
    const badIncr = res.filter(x => JSON.stringify(x) !== '[1,"1",2,"2"]');
    if (stale || badIncr.length) {
      problems.push(`${role}: ${stale} of 500 SET/GET pairs read an old value ` +
        `(first: ${first}); ${badIncr.length} of 20 INCR/GET wrong ` +
        `(first: ${JSON.stringify(badIncr[0])})`);
    }
    report.push(`${role}: 500 SET/GET, 20 INCR/GET`);
    c.destroy();
  }
  state.step = 'the replies';
  check(problems.length === 0, problems.join('; '));
  return { msg: report.join('; ') };
}

/* `client.multi().set(k, v).incr(c).get(k).exec()` on the leader and on
 * a follower, its effects read from another node; and a transaction
 * whose INCR fails at run time rejects exec() with that error while
 * Redis still runs the SET. */
async function multiExec(cfg, state) {
  for (const [role, i, other] of [['leader', cfg.leader, cfg.follower],
    ['follower', cfg.follower, cfg.leader]]) {
    state.step = `${role}: MULTI/EXEC`;
    const c = await client(cfg, i);
    const k = `${cfg.prefix}${role}:m`;
    const n = `${cfg.prefix}${role}:c`;
    eq(await c.multi().set(k, 'v1').incr(n).get(k).exec(), ['OK', 1, 'v1'], `${role}: EXEC`);
    const o = await client(cfg, other);
    eq([await o.get(k), await o.get(n)], ['v1', '1'], `${role}: read from another node after`);
    state.step = `${role}: MULTI/EXEC with a failing INCR`;
    let err = null;
    try {
      await c.multi().set(k, 'abc').incr(k).exec();
    } catch (e) {
      err = e;
    }
    check(err && err.replies && err.errorIndexes, `${role}: exec() did not reject (${err})`);
    eq(err.errorIndexes, [1], `${role}: failed command indexes`);
    eq(err.replies[0], 'OK', `${role}: reply to SET in the failing transaction`);
    eq(await o.get(k), 'abc', `${role}: the SET of the failing transaction, read elsewhere`);
    c.destroy();
    o.destroy();
  }
  return { msg: 'leader and follower' };
}

/* createClient({database: 1}) on a follower and a redis://host:port/1
 * URL on the leader: both connect without an error, share db 1's key,
 * and a db 0 client does not see it. */
async function selectDb1(cfg, state) {
  const k = cfg.prefix + 'db1key';
  state.step = 'connect with database: 1';
  const c1 = await client(cfg, cfg.follower, { database: 1 });
  eq(await c1.set(k, 'in-db1'), 'OK', 'SET in db 1');
  eq(await c1.get(k), 'in-db1', 'GET in db 1');
  state.step = 'connect with a /1 URL';
  const [host, port] = cfg.nodes[cfg.leader];
  const u = createClient({ url: `redis://${host}:${port}/1`, socket: { connectTimeout: 3000 } });
  u.errors = [];
  u.on('error', e => u.errors.push(e.message));
  await within(8000, u.connect(), 'connect with a /1 URL');
  eq(await u.get(k), 'in-db1', 'GET in db 1 through the URL client');
  state.step = 'db 0';
  const c0 = await client(cfg, cfg.leader);
  eq(await c0.get(k), null, 'GET in db 0');
  eq(await c0.exists(k), 0, 'EXISTS in db 0');
  eq([c1.errors, u.errors], [[], []], 'errors emitted by the db 1 clients');
  for (const c of [c1, u, c0]) c.destroy();
  return { msg: '' };
}

/* A client of node `target` keeps working when that node is restarted
 * (kill -9 and start, by the driver, between the SET and the GET). */
async function reconnect(cfg, state) {
  const k = cfg.prefix + 'restart';
  const c = await client(cfg, cfg.target);
  state.step = 'SET before the restart';
  eq(await c.set(k, 'before'), 'OK', 'SET');
  state.step = 'waiting for the driver to restart the node';
  await tell('ready', true);
  state.step = 'GET after the restart';
  eq(await c.get(k), 'before', 'GET after the restart');
  eq(await c.set(k, 'after'), 'OK', 'SET after the restart');
  eq(await c.get(k), 'after', 'GET after the second SET');
  c.destroy();
  return { msg: `${c.errors.length} connection errors while the node was down` };
}

/* createSentinel({name, sentinelRootNodes: [the three nodes]}): INCRs
 * through a kill -9 of the leader (common.js's loop; run.py checks that
 * no acknowledged write is lost and none applied twice). By default the
 * sentinel client sends a command again, up to maxCommandRediscovers
 * times, when its connection to the master fails before the reply; no
 * server can tell such a resent INCR from a new one, with Redis Sentinel
 * as with keel, so here it is 0 and the lost reply is an error, which
 * the check counts as "maybe applied". */
async function sentinel(cfg, state) {
  state.step = 'connect through the sentinels';
  const s = createSentinel({
    name: cfg.master,
    sentinelRootNodes: cfg.nodes.map(([host, port]) => ({ host, port })),
    maxCommandRediscovers: 0,
    nodeClientOptions: { socket: { connectTimeout: 2000 } },
    sentinelClientOptions: { socket: { connectTimeout: 2000 } },
  });
  s.on('error', () => {});
  await within(10000, s.connect(), 'createSentinel().connect()');
  const res = await incrThroughFailover(cfg, state, k => s.incr(k), k => s.get(k));
  s.destroy();
  return res;
}

/* CLIENT INFO of a node-redis connection names the library and its
 * version, as node-redis sets them with CLIENT SETINFO on connect. */
async function libName(cfg, state) {
  const c = await client(cfg, cfg.leader);
  state.step = 'CLIENT INFO';
  const info = await c.sendCommand(['CLIENT', 'INFO']);
  const ver = require('@redis/client/package.json').version;
  const field = (name, value) => String(info).split(/\s+/).includes(`${name}=${value}`);
  check(field('lib-name', 'node-redis') && field('lib-ver', ver),
    `CLIENT INFO lacks lib-name=node-redis lib-ver=${ver}: ${String(info).trim()}`);
  c.destroy();
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
