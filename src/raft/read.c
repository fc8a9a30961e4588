/* raft/read.c — linearizable reads with ReadIndex (thesis §6.4).
 *
 * On the leader, a read is given index max(commit, term_start) and a
 * confirmation round number (read_seq); every append carries the current
 * round and every reply echoes it. The read is answered once a quorum of
 * voters has echoed a round at least its own (leadership confirmed after the
 * read arrived) and the leader has committed an entry of its own term (so
 * its commit index is up to date). No clock is involved.
 *
 * One round is in flight at a time: a read that arrives while one is
 * takes the next round, begun when the current one is confirmed or by the
 * next heartbeat, whichever comes first (so a lost round delays it by a
 * heartbeat at most). Either way that round's messages leave after the
 * read arrived. Under load this is one exchange with the followers per
 * round trip, however many batches of reads arrive meanwhile (etcd's read
 * loop batches the same way).
 *
 * On a follower, the read is sent to the leader (READ_INDEX), which runs the
 * same procedure and answers with the index; the follower's embedder then
 * waits until it has applied that index. A change of leader or of term fails
 * every pending read: the caller may retry it. */
#include "base/assert.h"
#include "base/mem.h"
#include "raft/core.h"

void raft_reads_push(struct raft_reads *v, uint64_t req_id, raft_index index, int status)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 16;
		v->v = keel_realloc(v->v, v->cap * sizeof(*v->v));
	}
	v->v[v->n++] = (struct raft_read){.req_id = req_id, .index = index, .status = status};
}

static void pending_push(struct raft *r, const struct raft_pending_read *p)
{
	struct raft_pending_reads *v = &r->reads;
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 16;
		v->v = keel_realloc(v->v, v->cap * sizeof(*v->v));
	}
	v->v[v->n++] = *p;
}

static void read_answer(struct raft *r, const struct raft_pending_read *p, raft_index index,
			bool ok)
{
	if (p->from == RAFT_ID_NONE) {
		raft_reads_push(&r->out.reads, p->req_id, index, ok ? KEEL_OK : KEEL_ENOTLEADER);
		return;
	}
	struct raft_msg m = {.type = RAFT_MSG_READ_INDEX_RESP, .to = p->from};
	m.u.read_index_resp.req_id = p->req_id;
	m.u.read_index_resp.index = index;
	m.u.read_index_resp.ok = ok;
	raft_send(r, &m);
}

void raft_read_fail_all(struct raft *r, int status)
{
	for (uint32_t k = 0; k < r->reads.n; k++) {
		const struct raft_pending_read *p = &r->reads.v[k];
		if (p->from == RAFT_ID_NONE)
			raft_reads_push(&r->out.reads, p->req_id, 0, status);
		else
			read_answer(r, p, 0, false);
	}
	r->reads.n = 0;
}

/* How many voters (this node included) have confirmed round `seq`. */
static uint32_t read_acks(struct raft *r, uint64_t seq)
{
	uint32_t n = raft_is_voter(r) ? 1 : 0;
	for (uint32_t k = 0; k < r->n_prs; k++)
		if (r->prs[k].read_acked >= seq && raft_config_is_voter(&r->config, r->prs[k].id))
			n++;
	return n;
}

/* Whether some read waits for a round not yet begun. */
static bool read_waiting(const struct raft *r)
{
	for (uint32_t k = 0; k < r->reads.n; k++)
		if (r->reads.v[k].seq > r->read_seq)
			return true;
	return false;
}

/* Begins the next round: a heartbeat to every follower. */
static void round_start(struct raft *r)
{
	r->read_seq++;
	raft_broadcast(r, true);
}

/* Answers every leader-side read whose round reached a quorum; begins the
 * round the others wait for once none is in flight. */
void raft_read_on_ack(struct raft *r)
{
	if (r->role != RAFT_LEADER)
		return;
	if (r->commit >= r->term_start) {
		uint32_t kept = 0;
		for (uint32_t k = 0; k < r->reads.n; k++) {
			struct raft_pending_read *p = &r->reads.v[k];
			if (read_acks(r, p->seq) >= raft_quorum(r))
				read_answer(r, p, p->index, true);
			else
				r->reads.v[kept++] = *p;
		}
		r->reads.n = kept;
	}
	if (read_acks(r, r->read_seq) >= raft_quorum(r) && read_waiting(r))
		round_start(r);
}

void raft_read_on_heartbeat(struct raft *r)
{
	if (read_waiting(r)) /* this heartbeat is their round */
		r->read_seq++;
}

static void read_start(struct raft *r, uint64_t req_id, raft_id from)
{
	/* the next round: its messages leave after this read arrived */
	struct raft_pending_read p = {.req_id = req_id, .from = from, .seq = r->read_seq + 1};
	p.index = r->commit > r->term_start ? r->commit : r->term_start;
	pending_push(r, &p);
	raft_read_on_ack(r); /* begins it at once if no round is in flight */
}

int raft_read_index(struct raft *r, uint64_t req_id)
{
	KEEL_ASSERT(!r->in_update);
	if (r->stopped)
		return KEEL_ESTOPPED;
	if (r->role == RAFT_LEADER) {
		read_start(r, req_id, RAFT_ID_NONE);
		return KEEL_OK;
	}
	if (r->leader == RAFT_ID_NONE)
		return KEEL_ENOLEADER;
	/* A follower-side read waits for the leader's answer: seq 0 marks it. */
	struct raft_pending_read p = {.req_id = req_id, .from = RAFT_ID_NONE, .seq = 0};
	pending_push(r, &p);
	struct raft_msg m = {.type = RAFT_MSG_READ_INDEX, .to = r->leader};
	m.u.read_index.req_id = req_id;
	raft_send(r, &m);
	return KEEL_OK;
}

void raft_recv_read_index(struct raft *r, const struct raft_msg *m)
{
	if (r->role != RAFT_LEADER) {
		struct raft_pending_read p = {.req_id = m->u.read_index.req_id, .from = m->from};
		read_answer(r, &p, 0, false);
		return;
	}
	read_start(r, m->u.read_index.req_id, m->from);
}

void raft_recv_read_index_resp(struct raft *r, const struct raft_msg *m)
{
	/* A leader's r->leader is itself, and no node steps its own message. */
	if (m->from != r->leader)
		return;
	const struct raft_msg_read_index_resp *a = &m->u.read_index_resp;
	/* Every read pending here is one this node forwarded (seq 0): a
	 * leader's own are failed when it steps down. */
	for (uint32_t k = 0; k < r->reads.n; k++) {
		struct raft_pending_read *p = &r->reads.v[k];
		KEEL_ASSERT(p->seq == 0);
		if (p->req_id != a->req_id)
			continue;
		raft_reads_push(&r->out.reads, p->req_id, a->index,
				a->ok ? KEEL_OK : KEEL_ENOTLEADER);
		r->reads.v[k] = r->reads.v[--r->reads.n];
		return;
	}
}
