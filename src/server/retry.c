/* server/retry.c — a plain connection's request refused for a slot being
 * moved is held and sent again (docs/shards.md, "Moving slots").
 *
 * A shard refuses a write to a frozen slot, and any request for a slot it
 * does not hold (released, not yet accepted, or a node's map behind), with
 * "-TRYAGAIN slot S ...": it was not applied. Cluster clients retry that
 * themselves and get it at once; a plain connection (one that never made
 * itself cluster-aware, server/cluster.c) does not, so its request is
 * held here instead and dispatched again, routed by the map as this node
 * has applied it then, once the slot looks served (this node's copy of the
 * shard holds it) or after a backoff (20 ms, doubled up to 200 ms), for
 * up to the request timeout (--request-timeout-ms, 5 s by default: as long
 * as a write waits for a leader) from its first refusal; then its client
 * gets the -TRYAGAIN.
 *
 * What it keeps:
 * - One connection, one order: a held request is not finished, so the
 *   replies after it wait (they go out in order); requests that arrive
 *   after it are held behind it (requests_hold). It goes again only once
 *   every request before it is answered and no write after it is in
 *   flight; if a request after it was answered already, sending it again
 *   would put it after that one: it gets its -TRYAGAIN instead. A write
 *   after it in flight to the same shard is not applied: on a sharded
 *   node a plain connection's writes are marked held in their entries,
 *   and the shard refuses one whose session's write before it it refused
 *   for a slot (group.c); held too, it goes again after this one, each
 *   marked sent again (which that check lets through).
 * - Exactly-once: the refusal was recorded in the connection's session
 *   under the write's sequence number, so the write goes again under a new
 *   number, and each write held behind it takes a new one too as it is
 *   submitted, keeping the numbers rising in the connection's order. A
 *   connection that sent CLIENT SESSION numbers its writes itself (it
 *   resends them under those numbers): its requests are never held here.
 * - No stale read: a read sent again takes the whole read path again, and
 *   the reads after a request sent again ask for their read index again
 *   once it is answered (hold_reads_after). */
#include <string.h>

#include "base/bytes.h"
#include "base/mem.h"
#include "server/entry.h"
#include "server/server.h"

#define RETRY_FIRST_MS 20 /* the first backoff, doubled up to ... */
#define RETRY_MAX_MS   200

static bool starts(const struct rbuf *r, const char *text)
{
	size_t n = strlen(text);
	return r->len >= n && !memcmp(r->p, text, n);
}

static bool is_refusal(const struct rbuf *r)
{
	return starts(r, "-" KV_REFUSED);
}

/* Refused only behind an earlier write of its connection (group.c): it
 * waits for that one, which has a timeout of its own, and takes its own
 * from its first refusal for its own slot. */
static bool is_behind(const struct rbuf *r)
{
	return starts(r, "-" KV_REFUSED KV_REFUSED_BEHIND);
}

static int64_t backoff(uint32_t retries)
{
	int64_t ms = RETRY_FIRST_MS;
	for (uint32_t i = 1; i < retries && ms < RETRY_MAX_MS; i++)
		ms *= 2;
	return ms < RETRY_MAX_MS ? ms : RETRY_MAX_MS;
}

/* A read waiting for its index, or for a leader, leaves its group's
 * lists. */
static void unlist_read(struct creq *q)
{
	struct group *g = q->g;
	uint32_t k = 0;
	for (uint32_t i = 0; i < g->n_reads; i++)
		if (g->reads[i].req != q)
			g->reads[k++] = g->reads[i];
	g->n_reads = k;
	k = 0;
	for (uint32_t i = 0; i < g->n_waiting; i++)
		if (g->waiting[i] != q)
			g->waiting[k++] = g->waiting[i];
	g->n_waiting = k;
}

/* The reads after q already submitted asked their group for a read index
 * before q goes again: q may now be applied in another group, whose
 * write they must see. They are held behind q (as requests for another
 * group are, requests_hold) and submitted again, in order, once it is
 * answered. */
static void hold_reads_after(struct creq *q)
{
	struct client *c = q->client;
	for (struct creq *p = q->next; p; p = p->next) {
		if (!p->is_read || !p->submitted || p->done || p->deferred || p->retrying)
			continue;
		unlist_read(p);
		p->index_known = false;
		p->deferred = p->held = p->crossing = true;
		c->n_crossing++;
	}
}

bool retry_holds(const struct client *c)
{
	return !c->cluster_aware && !c->resumed_at && !c->session_told;
}

bool retry_take(struct server *s, struct creq *q)
{
	struct client *c = q->client;
	if (!c || q->fwd_peer || q->admin || q->no_retry || c->closing || !retry_holds(c) ||
	    !is_refusal(&q->reply))
		return false;
	int64_t now = server_now_ms();
	if (!q->retry_until && !is_behind(&q->reply))
		q->retry_until = now + s->cfg.request_timeout_ms;
	if (q->retry_until && now >= q->retry_until)
		return false;
	if (q->is_read)
		unlist_read(q);
	if (q->ordered) {
		q->ordered = false;
		c->n_ordered--;
	}
	q->retrying = true;
	q->retries++;
	q->retry_next = now + backoff(q->retries);
	c->n_retrying++;
	if (s->n_retrying == s->cap_retrying) {
		s->cap_retrying = s->cap_retrying ? s->cap_retrying * 2 : 16;
		s->retrying = keel_realloc(s->retrying, s->cap_retrying * sizeof *s->retrying);
	}
	s->retrying[s->n_retrying++] = q;
	return true;
}

void retry_forget(struct server *s, struct creq *q)
{
	for (uint32_t i = 0; i < s->n_retrying; i++)
		if (s->retrying[i] == q) {
			s->retrying[i] = s->retrying[--s->n_retrying];
			break;
		}
	q->retrying = false;
	if (q->client)
		q->client->n_retrying--;
}

/* q is answered with the -TRYAGAIN it had. */
static void give_up(struct server *s, struct creq *q)
{
	retry_forget(s, q);
	q->no_retry = true;
	s->stats.slot_gave_up++;
	creq_finish(s, q);
}

void retry_give_up_all(struct server *s)
{
	while (s->n_retrying)
		give_up(s, s->retrying[s->n_retrying - 1]);
}

void retry_renumber(struct client *c, struct creq *q, struct group *g)
{
	q->seq = c->next_seq++;
	c->renumber_below = q->seq;
	/* the request header's seq and ack (server/entry.c) */
	bytes_put_u64(q->cmd.p + 8, q->seq);
	bytes_put_u64(q->cmd.p + 16, client_ack(c, g, q->seq));
}

enum { WAIT, GO, GIVE_UP };

/* Whether q may go again now: every request before it answered, none
 * after it answered or a write after it in flight (see the top). */
static int order_allows(const struct creq *q)
{
	for (const struct creq *p = q->client->head; p != q; p = p->next)
		if (!p->done)
			return WAIT;
	int rc = GO;
	for (const struct creq *p = q->next; p; p = p->next) {
		if (p->retrying || p->deferred || !p->submitted || p->no_retry)
			continue; /* not sent, or not applied (given up: its -TRYAGAIN) */
		if (p->done)
			return GIVE_UP;
		if (!p->is_read)
			rc = WAIT;
	}
	return rc;
}

/* The group q's commands go to by the map now, in *g; false if they no
 * longer go to one (it gets its -TRYAGAIN). *ready: this node's copy of
 * that group holds their slots. */
static bool route_again(struct server *s, struct creq *q, struct group **g, bool *ready)
{
	struct rbuf b;
	struct entry e;
	bool ok = request_decode(q, q->is_read, &b, &e);
	*g = NULL;
	*ready = true;
	for (uint32_t k = 0; ok && k < e.reqs[0].n_cmds; k++) {
		const struct entry_cmd *ec = &e.reqs[0].cmds[k];
		const struct kv_cmd *cmd = kv_lookup(ec->argv[0].p, ec->argv[0].len);
		if (cmd && cmd->n_subs)
			cmd = ec->argc > 1 ? kv_lookup_sub(cmd, ec->argv[1].p, ec->argv[1].len)
					   : NULL;
		if (!cmd || !(cmd->flags & (KV_READ | KV_WRITE)))
			continue;
		struct group *x;
		int rc = cluster_keys_group(s, cmd, ec->argv, ec->argc, &x);
		if (rc < 0 || (rc > 0 && *g && x != *g))
			ok = false;
		else if (rc > 0)
			*g = x;
		uint16_t slot;
		if (ok && rc > 0 &&
		    kv_slots_check(&x->kv, ec->argv, ec->argc, &slot) != KV_SLOT_OWNED)
			*ready = false;
	}
	entry_free(&e);
	rbuf_free(&b);
	return ok && *g;
}

/* q goes to g again as a new request of its connection. */
static void send_again(struct server *s, struct creq *q, struct group *g)
{
	struct client *c = q->client;
	retry_forget(s, q);
	s->stats.slot_retries++;
	q->reply.len = 0;
	q->sends = 0;
	q->fwd_id = q->fwd_to = 0;
	q->applied_at = q->read_index = 0;
	q->index_known = false;
	if (!q->is_read) {
		retry_renumber(c, q, g);
		entry_req_mark_resend(q->cmd.p); /* not refused for the write before it */
	}
	hold_reads_after(q);
	c->last_group = g;
	request_submit(g, q, q->is_read);
}

void retry_tick(struct server *s)
{
	if (!s->n_retrying)
		return;
	int64_t now = server_now_ms();
	/* a copy: giving up or sending again changes the list */
	uint32_t n = s->n_retrying;
	struct creq **v = keel_malloc(n * sizeof *v);
	memcpy(v, s->retrying, n * sizeof *v);
	for (uint32_t i = 0; i < n; i++) {
		struct creq *q = v[i];
		if (!q->retrying)
			continue;
		int order = q->retry_until && now >= q->retry_until ? GIVE_UP : order_allows(q);
		struct group *g;
		bool ready = false;
		if (order == WAIT)
			continue; /* routed only once it may go: a decode each time */
		if (order == GIVE_UP || !route_again(s, q, &g, &ready))
			give_up(s, q);
		else if (ready || now >= q->retry_next)
			send_again(s, q, g);
	}
	keel_free(v);
}
