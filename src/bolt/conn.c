/*
 * A Bolt connection: handshake, HELLO/LOGON, the request pipeline and the reply state machine,
 * streamed results, explicit transactions, RESET, ROUTE and GOODBYE.
 *
 * Pipeline: every request is framed straight into the outbox (c->out) and its expected reply kind
 * is pushed on a queue (c->pend). The outbox is written only when a reply is needed, so requests
 * that need no answer yet (BEGIN, queued RUN+PULL, an automatic RESET) share one write with the
 * next one. Replies come back in request order; process_one() handles the oldest.
 * After a FAILURE the server ignores everything until RESET; the first failure is kept in
 * c->fail_err and reported by whichever call was waiting for that reply (or a later one).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "bolt/bolt.h"
#include "bolt/chunk.h"
#include "common/log.h"
#include "common/time.h"
#include "pg2neo.h"

/* Request signatures */
enum {
    MSG_HELLO = 0x01, MSG_GOODBYE = 0x02, MSG_RESET = 0x0F, MSG_RUN = 0x10, MSG_BEGIN = 0x11,
    MSG_COMMIT = 0x12, MSG_ROLLBACK = 0x13, MSG_DISCARD = 0x2F, MSG_PULL = 0x3F, MSG_ROUTE = 0x66,
    MSG_LOGON = 0x6A
};
/* Response signatures */
enum { MSG_SUCCESS = 0x70, MSG_RECORD = 0x71, MSG_IGNORED = 0x7E, MSG_FAILURE = 0x7F };

/* What a pending reply answers. */
typedef enum BoltReq {
    REQ_HELLO = 1, REQ_LOGON, REQ_RESET, REQ_BEGIN, REQ_RUN, REQ_PULL, REQ_DISCARD, REQ_QRUN,
    REQ_QPULL, REQ_COMMIT, REQ_ROLLBACK, REQ_ROUTE
} BoltReq;

typedef enum ResultState {
    RS_NONE = 0,   /* no result open */
    RS_STREAMING,  /* a PULL (or DISCARD) is outstanding */
    RS_HAS_MORE,   /* the last PULL said has_more; nothing outstanding */
} ResultState;

typedef enum TxState { TX_NONE = 0, TX_OPEN, TX_FAILED } TxState;

#define NO_POS SIZE_MAX
#define MAX_QUEUED_REPLIES 4096 /* bolt_tx_queue reads replies beyond this, to bound buffers */

struct BoltConn {
    const BoltTransportOps *ops;
    BoltTransport *t;
    BoltUri uri;
    char address[272];
    char *database;        /* from strdup(), or NULL */
    char user_agent[128];
    char server_agent[128];
    char conn_id[64];
    uint8_t major, minor;
    int read_timeout_ms, write_timeout_ms;
    int64_t fetch_size;

    /* outgoing */
    P2nBuf out;            /* framed requests not yet written */
    P2nBuf scratch;        /* small pieces of a message before framing */
    size_t chunk_hdr;      /* offset in out of the open chunk's header */
    size_t chunk_len;      /* bytes in the open chunk */
    size_t commit_pos;     /* offset in out where a commit-like request starts, or NO_POS */
    bool commit_inflight;  /* a COMMIT (or auto-commit RUN) was sent; its outcome not yet known */
    bool commit_sent;      /* bolt_commit_send ran: bolt_commit collects the replies */

    /* incoming */
    uint8_t *rbuf;         /* from malloc(), RBUF_SIZE */
    size_t rpos, rlen;
    BoltDechunker dc;
    bool dc_next;          /* the dechunker's message must be dropped before the next read */
    PsArena arena;         /* the last message's decoded values */
    PsValue msg;           /* the last message (a struct) */

    /* pending replies: a FIFO of BoltReq */
    uint8_t *pend;         /* from malloc() */
    size_t pend_head, pend_len, pend_cap;

    /* state */
    bool dead;             /* connection lost or unusable */
    bool failed;           /* server in FAILED state: RESET needed */
    bool reset_queued;
    bool fail_unreported;  /* fail_err not yet returned to a caller */
    P2nErr fail_err;
    TxState tx;
    ResultState rs;
    bool result_auto;      /* the open result is an auto-commit transaction */
    char **fields;         /* from malloc(): n_fields strings in one block after the pointers */
    size_t n_fields;
    const PsValue *record; /* the record process_one() just read */
    BoltSummary summary;   /* of the current or last result */
    BoltSummary tx_acc;    /* counters of statements queued in the open transaction */
    BoltRoutingTable *route_dst;
    BoltConnStats stats;
};

#define RBUF_SIZE (64 * 1024)

/* Public functions accept err == NULL: they then use a local P2nErr (internals need one). */
#define ERR_LOCAL(err)                                                                             \
    P2nErr err##_local;                                                                            \
    if ((err) == NULL) {                                                                           \
        p2n_err_clear(&err##_local);                                                               \
        (err) = &err##_local;                                                                      \
    }

/* ---------------------------------------------------------------- framing ---- */

static void put16_at(P2nBuf *b, size_t off, size_t v)
{
    b->data[off] = (uint8_t)(v >> 8);
    b->data[off + 1] = (uint8_t)v;
}

static void msg_begin(BoltConn *c)
{
    c->chunk_hdr = c->out.len;
    c->chunk_len = 0;
    p2n_buf_append_be16(&c->out, 0);
}

/* Appends message bytes, opening a new chunk every BOLT_MAX_CHUNK bytes (no intermediate copy). */
static void msg_append(BoltConn *c, const void *data, size_t n)
{
    const uint8_t *p = data;
    while (n > 0 && !c->out.failed) {
        if (c->chunk_len == BOLT_MAX_CHUNK) {
            put16_at(&c->out, c->chunk_hdr, c->chunk_len);
            c->chunk_hdr = c->out.len;
            c->chunk_len = 0;
            p2n_buf_append_be16(&c->out, 0);
        }
        size_t k = BOLT_MAX_CHUNK - c->chunk_len;
        if (k > n)
            k = n;
        p2n_buf_append(&c->out, p, k);
        c->chunk_len += k;
        p += k;
        n -= k;
    }
}

static void msg_end(BoltConn *c)
{
    if (c->out.failed)
        return;
    put16_at(&c->out, c->chunk_hdr, c->chunk_len);
    p2n_buf_append_be16(&c->out, 0);
    c->stats.messages_sent++;
}

/* Frames the scratch buffer as one whole message. */
static void msg_send_scratch(BoltConn *c)
{
    msg_begin(c);
    msg_append(c, c->scratch.data, c->scratch.len);
    msg_end(c);
}

static int pend_push(BoltConn *c, BoltReq r, P2nErr *err)
{
    if (c->pend_len == c->pend_cap) {
        size_t ncap = c->pend_cap ? c->pend_cap * 2 : 64;
        uint8_t *n = malloc(ncap);
        if (n == NULL)
            return p2n_err_set(err, P2N_ENOMEM, "out of memory");
        for (size_t i = 0; i < c->pend_len; i++)
            n[i] = c->pend[(c->pend_head + i) % c->pend_cap];
        free(c->pend);
        c->pend = n;
        c->pend_head = 0;
        c->pend_cap = ncap;
    }
    c->pend[(c->pend_head + c->pend_len) % c->pend_cap] = (uint8_t)r;
    c->pend_len++;
    return 0;
}

static BoltReq pend_front(const BoltConn *c)
{
    return (BoltReq)c->pend[c->pend_head];
}

static void pend_pop(BoltConn *c)
{
    c->pend_head = (c->pend_head + 1) % c->pend_cap;
    c->pend_len--;
}

/* ------------------------------------------------------------ connection loss ---- */

/* Marks the connection dead and turns a transport error into the caller's error. */
static int conn_lost(BoltConn *c, P2nErr *err)
{
    c->dead = true;
    char cause[sizeof(err->msg)];
    snprintf(cause, sizeof(cause), "%s", err->msg);
    if (c->commit_inflight)
        return p2n_err_set(err, P2N_EUNKNOWN_OUTCOME,
                           "connection to Neo4j at %s lost after the commit was sent, so the "
                           "transaction's outcome is unknown: %s", c->address, cause);
    int code = err->code;
    if (code != P2N_ETIMEDOUT && code != P2N_ENOMEM)
        code = P2N_ECONNLOST;
    return p2n_err_set(err, code, "connection to Neo4j at %s lost: %s", c->address, cause);
}

static int flush(BoltConn *c, P2nErr *err)
{
    if (c->out.len == 0)
        return 0;
    if (c->out.failed) {
        c->dead = true;
        return p2n_err_set(err, P2N_ENOMEM, "out of memory building a Bolt request");
    }
    size_t written = 0;
    int rc = c->ops->write(c->t, c->out.data, c->out.len, c->write_timeout_ms, &written, err);
    c->stats.writes++;
    c->stats.bytes_sent += written;
    if (c->commit_pos != NO_POS && written > c->commit_pos)
        c->commit_inflight = true;
    c->commit_pos = NO_POS;
    p2n_buf_reset(&c->out);
    if (c->out.cap > ((size_t)4 << 20)) { /* do not keep a huge outbox around */
        p2n_buf_free(&c->out);
        p2n_buf_init(&c->out);
    }
    if (rc < 0)
        return conn_lost(c, err);
    return 0;
}

/* ------------------------------------------------------------------ reading ---- */

static int read_message(BoltConn *c, P2nErr *err)
{
    if (c->dc_next) {
        bolt_dechunker_next(&c->dc);
        c->dc_next = false;
    }
    for (;;) {
        if (c->rpos < c->rlen) {
            size_t used = 0;
            int r = bolt_dechunker_feed(&c->dc, c->rbuf + c->rpos, c->rlen - c->rpos, &used, err);
            c->rpos += used;
            if (r < 0) {
                c->dead = true;
                return p2n_err_prefix(err, "could not read a message from Neo4j at %s", c->address);
            }
            if (r == 1)
                break;
            continue;
        }
        size_t got = 0;
        int rc = c->ops->read(c->t, c->rbuf, RBUF_SIZE, c->read_timeout_ms, &got, err);
        if (rc < 0)
            return conn_lost(c, err);
        c->rpos = 0;
        c->rlen = got;
        c->stats.bytes_received += got;
    }
    size_t len = 0;
    const uint8_t *data = bolt_dechunker_message(&c->dc, &len);
    c->dc_next = true;
    c->stats.messages_received++;
    ps_arena_reset(&c->arena);
    size_t used = 0;
    int rc = ps_decode(&c->arena, data, len, NULL, &c->msg, &used, err);
    if (rc < 0) {
        c->dead = true;
        return p2n_err_prefix(err, "could not decode a message from Neo4j at %s", c->address);
    }
    if (used != len || c->msg.type != PS_STRUCT) {
        c->dead = true;
        return p2n_err_set(err, P2N_EPROTO, "malformed message from Neo4j at %s", c->address);
    }
    return 0;
}

static const char *meta_str(const PsValue *meta, const char *key)
{
    const PsValue *v = ps_map_get(meta, key);
    return v != NULL && v->type == PS_STRING ? v->u.str.data : NULL;
}

static int64_t meta_int(const PsValue *meta, const char *key, int64_t dflt)
{
    const PsValue *v = ps_map_get(meta, key);
    return v != NULL && v->type == PS_INT ? v->u.i : dflt;
}

static bool meta_bool(const PsValue *meta, const char *key)
{
    const PsValue *v = ps_map_get(meta, key);
    return v != NULL && v->type == PS_BOOL && v->u.b;
}

static void copy_str(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}

static void free_fields(BoltConn *c)
{
    free(c->fields);
    c->fields = NULL;
    c->n_fields = 0;
}

static int store_fields(BoltConn *c, const PsValue *meta, P2nErr *err)
{
    free_fields(c);
    const PsValue *f = ps_map_get(meta, "fields");
    if (f == NULL || f->type != PS_LIST)
        return 0;
    size_t total = 0;
    for (uint32_t i = 0; i < f->u.list.len; i++) {
        if (f->u.list.items[i].type != PS_STRING)
            return p2n_err_set(err, P2N_EPROTO, "field name is not a string");
        total += f->u.list.items[i].u.str.len + 1;
    }
    size_t n = f->u.list.len;
    char **arr = malloc((n + 1) * sizeof(char *) + total);
    if (arr == NULL)
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    char *s = (char *)(arr + n + 1);
    for (size_t i = 0; i < n; i++) {
        const PsValue *it = &f->u.list.items[i];
        arr[i] = s;
        memcpy(s, it->u.str.data, it->u.str.len);
        s[it->u.str.len] = '\0';
        s += it->u.str.len + 1;
    }
    arr[n] = NULL;
    c->fields = arr;
    c->n_fields = n;
    return 0;
}

/* Reads the end-of-result metadata into s (stats are added, so queued statements accumulate). */
static void summary_add(BoltSummary *s, const PsValue *meta)
{
    const PsValue *st = ps_map_get(meta, "stats");
    if (st != NULL && st->type == PS_MAP) {
        s->nodes_created += meta_int(st, "nodes-created", 0);
        s->nodes_deleted += meta_int(st, "nodes-deleted", 0);
        s->relationships_created += meta_int(st, "relationships-created", 0);
        s->relationships_deleted += meta_int(st, "relationships-deleted", 0);
        s->properties_set += meta_int(st, "properties-set", 0);
        s->labels_added += meta_int(st, "labels-added", 0);
        s->labels_removed += meta_int(st, "labels-removed", 0);
        s->indexes_added += meta_int(st, "indexes-added", 0);
        s->indexes_removed += meta_int(st, "indexes-removed", 0);
        s->constraints_added += meta_int(st, "constraints-added", 0);
        s->constraints_removed += meta_int(st, "constraints-removed", 0);
        s->system_updates += meta_int(st, "system-updates", 0);
        if (meta_bool(st, "contains-updates"))
            s->contains_updates = true;
    }
    const char *v;
    if ((v = meta_str(meta, "type")) != NULL)
        copy_str(s->type, sizeof(s->type), v);
    if ((v = meta_str(meta, "db")) != NULL)
        copy_str(s->db, sizeof(s->db), v);
    if ((v = meta_str(meta, "bookmark")) != NULL)
        copy_str(s->bookmark, sizeof(s->bookmark), v);
    s->t_last_ms = meta_int(meta, "t_last", s->t_last_ms);
}

static void summary_merge(BoltSummary *acc, const BoltSummary *s)
{
    acc->nodes_created += s->nodes_created;
    acc->nodes_deleted += s->nodes_deleted;
    acc->relationships_created += s->relationships_created;
    acc->relationships_deleted += s->relationships_deleted;
    acc->properties_set += s->properties_set;
    acc->labels_added += s->labels_added;
    acc->labels_removed += s->labels_removed;
    acc->indexes_added += s->indexes_added;
    acc->indexes_removed += s->indexes_removed;
    acc->constraints_added += s->constraints_added;
    acc->constraints_removed += s->constraints_removed;
    acc->system_updates += s->system_updates;
    acc->contains_updates = acc->contains_updates || s->contains_updates;
    acc->records += s->records;
}

static int parse_route(const PsValue *meta, BoltRoutingTable *rt, P2nErr *err)
{
    memset(rt, 0, sizeof(*rt));
    const PsValue *t = ps_map_get(meta, "rt");
    if (t == NULL || t->type != PS_MAP)
        return p2n_err_set(err, P2N_EPROTO, "ROUTE reply has no routing table");
    rt->ttl_s = meta_int(t, "ttl", 300);
    if (rt->ttl_s < 0)
        rt->ttl_s = 0;
    copy_str(rt->db, sizeof(rt->db), meta_str(t, "db"));
    const PsValue *servers = ps_map_get(t, "servers");
    if (servers == NULL || servers->type != PS_LIST)
        return p2n_err_set(err, P2N_EPROTO, "ROUTE reply has no server list");
    for (uint32_t i = 0; i < servers->u.list.len; i++) {
        const PsValue *s = &servers->u.list.items[i];
        const char *role = meta_str(s, "role");
        const PsValue *addrs = ps_map_get(s, "addresses");
        if (role == NULL || addrs == NULL || addrs->type != PS_LIST)
            continue;
        char(*dst)[272];
        unsigned *n;
        if (strcmp(role, "WRITE") == 0) {
            dst = rt->writers;
            n = &rt->n_writers;
        } else if (strcmp(role, "READ") == 0) {
            dst = rt->readers;
            n = &rt->n_readers;
        } else if (strcmp(role, "ROUTE") == 0) {
            dst = rt->routers;
            n = &rt->n_routers;
        } else {
            continue;
        }
        for (uint32_t j = 0; j < addrs->u.list.len && *n < BOLT_MAX_SERVERS; j++) {
            const PsValue *a = &addrs->u.list.items[j];
            if (a->type == PS_STRING && a->u.str.len < sizeof(dst[0]))
                copy_str(dst[(*n)++], sizeof(dst[0]), a->u.str.data);
        }
    }
    rt->expires_ms = p2n_now_mono_ms() + rt->ttl_s * 1000;
    return 0;
}

static void record_failure(BoltConn *c, BoltReq kind, const PsValue *meta)
{
    const char *code = meta_str(meta, "code");
    const char *message = meta_str(meta, "message");
    /* 5.x servers may send the GQL form: the legacy code is still "code"; "neo4j_code" in 5.26+ */
    if (code == NULL)
        code = meta_str(meta, "neo4j_code");
    if (code == NULL)
        code = "Neo.DatabaseError.General.UnknownError";
    if (message == NULL)
        message = "(no message)";
    if (!c->fail_unreported) {
        bool auth = (kind == REQ_HELLO || kind == REQ_LOGON) &&
                    strncmp(code, "Neo.ClientError.Security.", 25) == 0;
        if (auth)
            p2n_err_set(&c->fail_err, P2N_EAUTH, "authentication failed at %s: %s (%s)", c->address,
                        message, code);
        else
            p2n_err_set(&c->fail_err, P2N_ENEO4J, "%s: %s", code, message);
        copy_str(c->fail_err.neo_code, sizeof(c->fail_err.neo_code), code);
        p2n_log_redact(c->fail_err.msg);
        c->fail_unreported = true;
    }
    c->failed = true;
    if (kind == REQ_HELLO || kind == REQ_LOGON || kind == REQ_RESET)
        c->dead = true; /* the server closes the connection */
}

/*
 * Reads and handles the oldest pending reply. Returns 1 when a RECORD of the open result was read
 * (c->record), 0 when a reply was handled, < 0 when the connection broke (it is then dead).
 * A FAILURE is not an error here: it is recorded in c->fail_err.
 */
static int process_one(BoltConn *c, P2nErr *err)
{
    if (c->pend_len == 0)
        return p2n_err_set(err, P2N_ESTATE, "no reply is expected from Neo4j");
    int rc = flush(c, err);
    if (rc < 0)
        return rc;
    rc = read_message(c, err);
    if (rc < 0)
        return rc;
    BoltReq kind = pend_front(c);
    uint8_t sig = c->msg.u.st.tag;
    const PsValue *f0 = c->msg.u.st.len > 0 ? &c->msg.u.st.fields[0] : NULL;
    if (sig == MSG_RECORD) {
        if ((kind != REQ_PULL && kind != REQ_QPULL) || f0 == NULL || f0->type != PS_LIST) {
            c->dead = true;
            return p2n_err_set(err, P2N_EPROTO, "unexpected RECORD from Neo4j at %s", c->address);
        }
        if (kind == REQ_QPULL) {
            c->tx_acc.records++;
            if (f0->u.list.len > 0 && f0->u.list.items[0].type == PS_INT &&
                f0->u.list.items[0].u.i > c->tx_acc.queued_int_max)
                c->tx_acc.queued_int_max = f0->u.list.items[0].u.i;
            return 0;
        }
        c->summary.records++;
        c->record = f0;
        return 1;
    }
    if (sig != MSG_SUCCESS && sig != MSG_FAILURE && sig != MSG_IGNORED) {
        c->dead = true;
        return p2n_err_set(err, P2N_EPROTO, "unexpected message 0x%02X from Neo4j at %s", sig, c->address);
    }
    pend_pop(c);
    static const PsValue empty_map = {.type = PS_MAP};
    const PsValue *meta = f0 != NULL && f0->type == PS_MAP ? f0 : &empty_map;

    if (sig == MSG_FAILURE) {
        record_failure(c, kind, meta);
        if (kind == REQ_RUN || kind == REQ_PULL || kind == REQ_DISCARD)
            c->rs = RS_NONE;
        /* outcome known: not committed (a COMMIT or auto-commit RUN after a failure is IGNORED) */
        c->commit_inflight = false;
        if (c->tx == TX_OPEN)
            c->tx = TX_FAILED;
        if (kind == REQ_COMMIT || kind == REQ_ROLLBACK)
            c->tx = TX_NONE;
        return 0;
    }
    if (sig == MSG_IGNORED) {
        if (kind == REQ_RUN || kind == REQ_PULL || kind == REQ_DISCARD)
            c->rs = RS_NONE;
        c->commit_inflight = false; /* an ignored COMMIT (or auto-commit RUN) did nothing */
        if (kind == REQ_COMMIT || kind == REQ_ROLLBACK)
            c->tx = TX_NONE;
        if (kind == REQ_RESET) /* cannot happen: RESET is never ignored */
            c->dead = true;
        if (!c->failed && !c->fail_unreported) {
            /* IGNORED without a FAILURE first: the server was already failed */
            p2n_err_set(&c->fail_err, P2N_ESTATE, "Neo4j ignored the request");
            c->fail_unreported = true;
            c->failed = true;
        }
        return 0;
    }

    /* SUCCESS */
    switch (kind) {
    case REQ_HELLO:
        copy_str(c->server_agent, sizeof(c->server_agent), meta_str(meta, "server"));
        copy_str(c->conn_id, sizeof(c->conn_id), meta_str(meta, "connection_id"));
        break;
    case REQ_LOGON:
    case REQ_BEGIN:
    case REQ_QRUN:
        break;
    case REQ_RESET:
        c->failed = false;
        c->reset_queued = false;
        break;
    case REQ_RUN:
        rc = store_fields(c, meta, err);
        if (rc < 0) {
            c->dead = true;
            return rc;
        }
        c->summary.t_first_ms = meta_int(meta, "t_first", 0);
        break;
    case REQ_PULL:
    case REQ_DISCARD:
        if (meta_bool(meta, "has_more")) {
            c->rs = RS_HAS_MORE;
        } else {
            summary_add(&c->summary, meta);
            c->rs = RS_NONE;
            if (c->result_auto)
                c->commit_inflight = false;
        }
        break;
    case REQ_QPULL: {
        BoltSummary s;
        memset(&s, 0, sizeof(s));
        summary_add(&s, meta);
        summary_merge(&c->tx_acc, &s);
        break;
    }
    case REQ_COMMIT:
        copy_str(c->tx_acc.bookmark, sizeof(c->tx_acc.bookmark), meta_str(meta, "bookmark"));
        c->commit_inflight = false;
        c->tx = TX_NONE;
        break;
    case REQ_ROLLBACK:
        c->tx = TX_NONE;
        break;
    case REQ_ROUTE:
        if (c->route_dst != NULL) {
            rc = parse_route(meta, c->route_dst, err);
            if (rc < 0)
                return rc;
        }
        break;
    }
    return 0;
}

/* Handles replies until at most `left` remain pending; drops records of the open result. */
static int wait_until(BoltConn *c, size_t left, P2nErr *err)
{
    while (c->pend_len > left) {
        int rc = process_one(c, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Returns the recorded failure to the caller (once). */
static int take_failure(BoltConn *c, P2nErr *err)
{
    if (!c->fail_unreported)
        return 0;
    c->fail_unreported = false;
    if (err != NULL)
        *err = c->fail_err;
    return c->fail_err.code;
}

/* ------------------------------------------------------------- requests ---- */

static int queue_simple(BoltConn *c, uint8_t sig, BoltReq kind, P2nErr *err)
{
    p2n_buf_reset(&c->scratch);
    ps_pack_struct_header(&c->scratch, sig, 0);
    msg_send_scratch(c);
    return kind ? pend_push(c, kind, err) : 0;
}

static int queue_pull(BoltConn *c, uint8_t sig, int64_t n, BoltReq kind, P2nErr *err)
{
    p2n_buf_reset(&c->scratch);
    ps_pack_struct_header(&c->scratch, sig, 1);
    ps_pack_map_header(&c->scratch, 1);
    ps_pack_cstr(&c->scratch, "n");
    ps_pack_int(&c->scratch, n);
    msg_send_scratch(c);
    return pend_push(c, kind, err);
}

static bool is_map_marker(uint8_t m)
{
    return (m >= 0xA0 && m <= 0xAF) || m == 0xD8 || m == 0xD9 || m == 0xDA;
}

/* The extra map of BEGIN or an auto-commit RUN. */
static int pack_tx_extra(BoltConn *c, P2nBuf *b, const BoltTxConfig *tx, P2nErr *err)
{
    const char *db = tx && tx->database ? tx->database : c->database;
    uint32_t n = 0;
    if (tx && tx->n_bookmarks > 0)
        n++;
    if (tx && tx->timeout_ms > 0)
        n++;
    if (tx && tx->metadata != NULL && tx->metadata_len > 0) {
        if (!is_map_marker(tx->metadata[0]))
            return p2n_err_set(err, P2N_EINVAL, "transaction metadata must be a PackStream map");
        n++;
    }
    if (tx && tx->mode == BOLT_ACCESS_READ)
        n++;
    if (db != NULL && db[0] != '\0')
        n++;
    ps_pack_map_header(b, n);
    if (tx && tx->n_bookmarks > 0) {
        ps_pack_cstr(b, "bookmarks");
        ps_pack_list_header(b, (uint32_t)tx->n_bookmarks);
        for (size_t i = 0; i < tx->n_bookmarks; i++)
            ps_pack_cstr(b, tx->bookmarks[i]);
    }
    if (tx && tx->timeout_ms > 0) {
        ps_pack_cstr(b, "tx_timeout");
        ps_pack_int(b, tx->timeout_ms);
    }
    if (tx && tx->metadata != NULL && tx->metadata_len > 0) {
        ps_pack_cstr(b, "tx_metadata");
        p2n_buf_append(b, tx->metadata, tx->metadata_len);
    }
    if (tx && tx->mode == BOLT_ACCESS_READ) {
        ps_pack_cstr(b, "mode");
        ps_pack_cstr(b, "r");
    }
    if (db != NULL && db[0] != '\0') {
        ps_pack_cstr(b, "db");
        ps_pack_cstr(b, db);
    }
    return 0;
}

/* RUN query params extra, framed without copying params twice. */
static int queue_run(BoltConn *c, const char *query, const uint8_t *params, size_t params_len,
                     const BoltTxConfig *tx, bool auto_commit, BoltReq kind, P2nErr *err)
{
    static const uint8_t empty_map = 0xA0;
    if (query == NULL)
        return p2n_err_set(err, P2N_EINVAL, "missing query");
    if (params == NULL || params_len == 0) {
        params = &empty_map;
        params_len = 1;
    } else if (!is_map_marker(params[0])) {
        return p2n_err_set(err, P2N_EINVAL, "query parameters must be a PackStream map");
    }
    p2n_buf_reset(&c->scratch);
    ps_pack_struct_header(&c->scratch, MSG_RUN, 3);
    ps_pack_string(&c->scratch, query, strlen(query));
    size_t start = c->out.len;
    msg_begin(c);
    msg_append(c, c->scratch.data, c->scratch.len);
    msg_append(c, params, params_len);
    p2n_buf_reset(&c->scratch);
    if (auto_commit) {
        int rc = pack_tx_extra(c, &c->scratch, tx, err);
        if (rc < 0) {
            c->out.len = start; /* unframe */
            return rc;
        }
    } else {
        ps_pack_map_header(&c->scratch, 0);
    }
    msg_append(c, c->scratch.data, c->scratch.len);
    msg_end(c);
    if (auto_commit && !(tx && tx->mode == BOLT_ACCESS_READ) && c->commit_pos == NO_POS)
        c->commit_pos = start;
    return pend_push(c, kind, err);
}

static int check_usable(BoltConn *c, P2nErr *err)
{
    if (c == NULL)
        return p2n_err_set(err, P2N_EINVAL, "no connection");
    if (c->dead)
        return p2n_err_set(err, P2N_ECONNLOST, "connection to Neo4j at %s is closed", c->address);
    return 0;
}

/*
 * Gets the connection ready for a new request: finishes an open result (discarding the rest),
 * and queues a RESET if the server is in the FAILED state.
 */
static int prepare(BoltConn *c, P2nErr *err)
{
    int rc = check_usable(c, err);
    if (rc < 0)
        return rc;
    while (c->rs == RS_STREAMING) {
        rc = process_one(c, err);
        if (rc < 0)
            return rc;
    }
    if (c->rs == RS_HAS_MORE) {
        if ((rc = queue_pull(c, MSG_DISCARD, -1, REQ_DISCARD, err)) < 0)
            return rc;
        c->rs = RS_STREAMING;
        while (c->rs == RS_STREAMING) {
            if ((rc = process_one(c, err)) < 0)
                return rc;
        }
    }
    if (c->failed && !c->reset_queued && c->tx != TX_FAILED) {
        if ((rc = queue_simple(c, MSG_RESET, REQ_RESET, err)) < 0)
            return rc;
        c->reset_queued = true;
        c->fail_unreported = false; /* a new request: an old failure is no longer news */
    }
    return 0;
}

/* -------------------------------------------------------------- public API ---- */

static void default_user_agent(char *buf, size_t size, const BoltConfig *cfg)
{
    if (cfg->user_agent != NULL && cfg->user_agent[0] != '\0')
        snprintf(buf, size, "%s", cfg->user_agent);
    else
        snprintf(buf, size, "pg2neo/%s", p2n_version());
}

static int handshake(BoltConn *c, const BoltConfig *cfg, P2nErr *err)
{
    uint8_t hs[20] = {0x60, 0x60, 0xB0, 0x17, 0x00, 0x04, 0x04, 0x05, 0x00, 0x00, 0x04, 0x04,
                      0, 0, 0, 0, 0, 0, 0, 0};
    if (cfg->version_major != 0) {
        memset(hs + 4, 0, 16);
        hs[6] = cfg->version_minor;
        hs[7] = cfg->version_major;
    }
    size_t written = 0;
    int rc = c->ops->write(c->t, hs, sizeof(hs), c->write_timeout_ms, &written, err);
    if (rc < 0)
        return rc;
    c->stats.bytes_sent += written;
    uint8_t reply[4];
    size_t have = 0;
    while (have < 4) {
        size_t got = 0;
        rc = c->ops->read(c->t, reply + have, 4 - have, c->read_timeout_ms, &got, err);
        if (rc < 0) {
            if (rc == P2N_ECONNLOST)
                return p2n_err_set(err, P2N_EPROTO,
                                   "server closed the connection during the Bolt handshake (is this a "
                                   "Bolt port%s?)", c->uri.tls == BOLT_TLS_NONE ? ", and does it require TLS" : "");
            return rc;
        }
        have += got;
    }
    c->stats.bytes_received += 4;
    if (memcmp(reply, "HTTP", 4) == 0)
        return p2n_err_set(err, P2N_EPROTO,
                           "the server answered with HTTP: port %u is Neo4j's HTTP port, not its Bolt port "
                           "(Bolt listens on 7687 by default)", (unsigned)c->uri.port);
    if (reply[0] == 0 && reply[1] == 0 && reply[2] == 0 && reply[3] == 0)
        return p2n_err_set(err, P2N_EPROTO, "server supports none of the Bolt versions offered (5.0-5.4, 4.4)");
    int major = reply[3], minor = reply[2];
    if (reply[0] != 0 || reply[1] != 0 || !((major == 5 && minor <= 4) || (major == 4 && minor == 4)))
        return p2n_err_set(err, P2N_EPROTO,
                           "unexpected Bolt handshake reply %02X %02X %02X %02X (not a Bolt server?)",
                           reply[0], reply[1], reply[2], reply[3]);
    c->major = (uint8_t)major;
    c->minor = (uint8_t)minor;
    return 0;
}

static void pack_auth(P2nBuf *b, const BoltConfig *cfg, bool with_count)
{
    bool none = (cfg->user == NULL || cfg->user[0] == '\0') && cfg->password == NULL;
    if (with_count)
        ps_pack_map_header(b, none ? 1 : 3);
    ps_pack_cstr(b, "scheme");
    ps_pack_cstr(b, none ? "none" : "basic");
    if (!none) {
        ps_pack_cstr(b, "principal");
        ps_pack_cstr(b, cfg->user ? cfg->user : "");
        ps_pack_cstr(b, "credentials");
        ps_pack_cstr(b, cfg->password ? cfg->password : "");
    }
}

static void pack_routing(BoltConn *c, P2nBuf *b)
{
    char addr[300];
    bolt_uri_address(c->uri.host, c->uri.port, addr, sizeof(addr));
    ps_pack_map_header(b, 1 + c->uri.n_context);
    ps_pack_cstr(b, "address");
    ps_pack_cstr(b, addr);
    for (unsigned i = 0; i < c->uri.n_context; i++) {
        ps_pack_cstr(b, c->uri.context_key[i]);
        ps_pack_cstr(b, c->uri.context_value[i]);
    }
}

static int hello(BoltConn *c, const BoltConfig *cfg, P2nErr *err)
{
    bool logon = c->major == 5 && c->minor >= 1;
    bool agent = c->major == 5 && c->minor >= 3;
    bool legacy = c->major == 4;
    bool none = (cfg->user == NULL || cfg->user[0] == '\0') && cfg->password == NULL;
    uint32_t n = 1 + (c->uri.routing ? 1u : 0u) + (agent ? 1u : 0u) + (legacy ? 1u : 0u) +
                 (logon ? 0u : (none ? 1u : 3u));
    P2nBuf *b = &c->scratch;
    p2n_buf_reset(b);
    ps_pack_struct_header(b, MSG_HELLO, 1);
    ps_pack_map_header(b, n);
    ps_pack_cstr(b, "user_agent");
    ps_pack_cstr(b, c->user_agent);
    if (c->uri.routing) {
        ps_pack_cstr(b, "routing");
        pack_routing(c, b);
    }
    if (agent) {
        struct utsname u;
        char platform[200] = "unknown";
        if (uname(&u) == 0)
            snprintf(platform, sizeof(platform), "%s %s; %s", u.sysname, u.release, u.machine);
        ps_pack_cstr(b, "bolt_agent");
        ps_pack_map_header(b, 3);
        ps_pack_cstr(b, "product");
        ps_pack_cstr(b, c->user_agent);
        ps_pack_cstr(b, "platform");
        ps_pack_cstr(b, platform);
        ps_pack_cstr(b, "language");
        ps_pack_cstr(b, "C/11");
    }
    if (legacy) { /* 4.4: ask for the UTC-based DateTime structures of 5.x */
        ps_pack_cstr(b, "patch_bolt");
        ps_pack_list_header(b, 1);
        ps_pack_cstr(b, "utc");
    }
    if (!logon)
        pack_auth(b, cfg, false);
    msg_send_scratch(c);
    int rc = pend_push(c, REQ_HELLO, err);
    if (rc == 0 && logon) {
        p2n_buf_reset(b);
        ps_pack_struct_header(b, MSG_LOGON, 1);
        pack_auth(b, cfg, true);
        msg_send_scratch(c);
        rc = pend_push(c, REQ_LOGON, err);
    }
    /* the credentials are in the outbox: wipe the scratch copy */
    if (b->data != NULL)
        memset(b->data, 0, b->cap);
    p2n_buf_reset(b);
    if (rc < 0)
        return rc;
    rc = wait_until(c, 0, err);
    /* and the outbox, now written */
    if (c->out.data != NULL)
        memset(c->out.data, 0, c->out.cap);
    if (rc < 0)
        return rc;
    if (c->fail_unreported) {
        c->dead = true;
        rc = take_failure(c, err);
        size_t used = strlen(err->msg);
        if (rc == P2N_EAUTH && cfg->password == NULL) {
            snprintf(err->msg + used, sizeof(err->msg) - used, " (no password was given: set NEO4J_PASSWORD or "
                     "NEO4J_PASSWORD_FILE)");
        } else if (rc == P2N_EAUTH) {
            /* say which secret is at fault and where it came from, never what it is */
            const char *pf = cfg->password_from ? cfg->password_from : "the configuration";
            const char *uf = cfg->user_from ? cfg->user_from : "the configuration";
            const char *user = cfg->user ? cfg->user : "";
            if (strcmp(err->neo_code, "Neo.ClientError.Security.Unauthorized") == 0)
                snprintf(err->msg + used, sizeof(err->msg) - used,
                         " (the Neo4j password or the user \"%s\" is wrong: the password came from %s, the user from %s)",
                         user, pf, uf);
            else if (strcmp(err->neo_code, "Neo.ClientError.Security.AuthenticationRateLimit") == 0)
                snprintf(err->msg + used, sizeof(err->msg) - used,
                         " (too many failed logins in a row: Neo4j refuses the user \"%s\" for a while; check the "
                         "password from %s and the user from %s)", user, pf, uf);
        }
        return rc;
    }
    return 0;
}

int bolt_conn_open_address(const BoltConfig *cfg, const char *host, uint16_t port, BoltConn **out,
                           P2nErr *err)
{
    ERR_LOCAL(err);
    *out = NULL;
    BoltConn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    int rc = bolt_uri_parse(cfg->uri, &c->uri, err);
    if (rc < 0) {
        free(c);
        return rc;
    }
    c->ops = cfg->transport ? cfg->transport : &bolt_tcp_transport;
    p2n_buf_init(&c->out);
    p2n_buf_init(&c->scratch);
    bolt_dechunker_init(&c->dc, cfg->max_message);
    size_t maxmsg = cfg->max_message ? cfg->max_message : BOLT_DEFAULT_MAX_MESSAGE;
    ps_arena_init(&c->arena, maxmsg > ((size_t)1 << 26) ? maxmsg * 4 : (size_t)1 << 28);
    c->commit_pos = NO_POS;
    c->read_timeout_ms = cfg->read_timeout_ms == 0 ? 300000 : cfg->read_timeout_ms;
    c->write_timeout_ms = cfg->write_timeout_ms == 0 ? 60000 : cfg->write_timeout_ms;
    c->fetch_size = cfg->fetch_size == 0 ? 1000 : cfg->fetch_size;
    default_user_agent(c->user_agent, sizeof(c->user_agent), cfg);
    bolt_uri_address(host, port, c->address, sizeof(c->address));
    c->rbuf = malloc(RBUF_SIZE);
    if (cfg->database != NULL && cfg->database[0] != '\0')
        c->database = strdup(cfg->database);
    if (c->rbuf == NULL || (cfg->database != NULL && cfg->database[0] != '\0' && c->database == NULL)) {
        bolt_conn_close(c);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    }
    BoltTlsOptions tls = {c->uri.tls, cfg->tls_ca_file};
    int cto = cfg->connect_timeout_ms == 0 ? 10000 : cfg->connect_timeout_ms;
    rc = c->ops->open(cfg->transport_ctx, host, port, &tls, cto, &c->t, err);
    /* the handshake and HELLO are bounded by the connect timeout, not the (long) read timeout */
    int rto = c->read_timeout_ms;
    c->read_timeout_ms = cto;
    if (rc == 0)
        rc = handshake(c, cfg, err);
    if (rc == 0)
        rc = hello(c, cfg, err);
    c->read_timeout_ms = rto;
    if (rc < 0) {
        c->dead = true;
        if (err && err->code != P2N_EAUTH && strncmp(err->msg, "connection to Neo4j", 19) != 0)
            p2n_err_prefix(err, "could not connect to Neo4j at %s", c->address);
        bolt_conn_close(c);
        return rc;
    }
    P2N_DEBUG("connected to Neo4j", "address=%s server=\"%s\" bolt=%d.%d id=%s", c->address, c->server_agent,
              c->major, c->minor, c->conn_id);
    *out = c;
    return 0;
}

int bolt_conn_open(const BoltConfig *cfg, BoltConn **out, P2nErr *err)
{
    BoltUri u;
    *out = NULL;
    if (cfg == NULL)
        return p2n_err_set(err, P2N_EINVAL, "missing Bolt configuration");
    int rc = bolt_uri_parse(cfg->uri, &u, err);
    if (rc < 0)
        return rc;
    return bolt_conn_open_address(cfg, u.host, u.port, out, err);
}

void bolt_conn_close(BoltConn *c)
{
    if (c == NULL)
        return;
    if (c->t != NULL) {
        if (!c->dead) {
            p2n_buf_reset(&c->out);
            c->commit_pos = NO_POS;
            queue_simple(c, MSG_GOODBYE, 0, NULL);
            P2nErr e;
            p2n_err_clear(&e);
            size_t written = 0;
            c->ops->write(c->t, c->out.data, c->out.len, 1000, &written, &e);
        }
        c->ops->close(c->t);
        c->t = NULL;
    }
    p2n_buf_free(&c->out);
    p2n_buf_free(&c->scratch);
    bolt_dechunker_free(&c->dc);
    ps_arena_free(&c->arena);
    free(c->rbuf);
    free(c->pend);
    free(c->database);
    free_fields(c);
    free(c);
}

void bolt_conn_version(const BoltConn *c, int *major, int *minor)
{
    *major = c->major;
    *minor = c->minor;
}

const char *bolt_conn_server_agent(const BoltConn *c)
{
    return c->server_agent;
}

const char *bolt_conn_id(const BoltConn *c)
{
    return c->conn_id;
}

const char *bolt_conn_address(const BoltConn *c)
{
    return c->address;
}

bool bolt_conn_usable(const BoltConn *c)
{
    return c != NULL && !c->dead;
}

bool bolt_conn_in_tx(const BoltConn *c)
{
    return c->tx != TX_NONE;
}

void bolt_conn_stats(const BoltConn *c, BoltConnStats *out)
{
    *out = c->stats;
}

static int tx_failed_error(BoltConn *c, P2nErr *err)
{
    if (err != NULL) {
        *err = c->fail_err;
        p2n_err_prefix(err, "transaction failed earlier");
    }
    return c->fail_err.code ? c->fail_err.code : P2N_ESTATE;
}

int bolt_run(BoltConn *c, const char *query, const uint8_t *params, size_t params_len,
             const BoltTxConfig *tx, P2nErr *err)
{
    ERR_LOCAL(err);
    int rc = prepare(c, err);
    if (rc < 0)
        return rc;
    if (c->tx == TX_FAILED)
        return tx_failed_error(c, err);
    bool auto_commit = c->tx == TX_NONE;
    memset(&c->summary, 0, sizeof(c->summary));
    free_fields(c);
    c->result_auto = auto_commit;
    if ((rc = queue_run(c, query, params, params_len, tx, auto_commit, REQ_RUN, err)) < 0 ||
        (rc = queue_pull(c, MSG_PULL, c->fetch_size, REQ_PULL, err)) < 0)
        return rc;
    c->rs = RS_STREAMING;
    /* wait for everything before the PULL (earlier queued requests and the RUN) */
    rc = wait_until(c, 1, err);
    if (rc < 0)
        return rc;
    if (c->fail_unreported) {
        /* the PULL will be IGNORED (or fail the same way): read it now */
        rc = wait_until(c, 0, err);
        if (rc < 0)
            return rc;
        c->rs = RS_NONE;
        return take_failure(c, err);
    }
    return 0;
}

int bolt_run_value(BoltConn *c, const char *query, const PsValue *params, const BoltTxConfig *tx,
                   P2nErr *err)
{
    if (params != NULL && params->type != PS_MAP)
        return p2n_err_set(err, P2N_EINVAL, "query parameters must be a map, not %s", ps_type_name(params->type));
    P2nBuf b;
    p2n_buf_init(&b);
    if (params != NULL)
        ps_pack_value(&b, params);
    if (b.failed) {
        p2n_buf_free(&b);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory encoding query parameters");
    }
    int rc = bolt_run(c, query, b.data, b.len, tx, err);
    p2n_buf_free(&b);
    return rc;
}

const char *const *bolt_fields(const BoltConn *c, size_t *n)
{
    if (n != NULL)
        *n = c->n_fields;
    return (const char *const *)c->fields;
}

int bolt_next(BoltConn *c, const PsValue **record, P2nErr *err)
{
    ERR_LOCAL(err);
    *record = NULL;
    int rc;
    for (;;) {
        if (c->rs == RS_NONE) {
            if (c->fail_unreported)
                return take_failure(c, err);
            return 0;
        }
        if (c->dead)
            return check_usable(c, err);
        if (c->rs == RS_HAS_MORE) {
            if ((rc = queue_pull(c, MSG_PULL, c->fetch_size, REQ_PULL, err)) < 0)
                return rc;
            c->rs = RS_STREAMING;
        }
        rc = process_one(c, err);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            *record = c->record;
            return 1;
        }
    }
}

const BoltSummary *bolt_summary(const BoltConn *c)
{
    return &c->summary;
}

int bolt_discard(BoltConn *c, P2nErr *err)
{
    ERR_LOCAL(err);
    int rc = check_usable(c, err);
    if (rc < 0)
        return rc;
    while (c->rs == RS_STREAMING)
        if ((rc = process_one(c, err)) < 0)
            return rc;
    if (c->rs == RS_HAS_MORE) {
        if ((rc = queue_pull(c, MSG_DISCARD, -1, REQ_DISCARD, err)) < 0)
            return rc;
        c->rs = RS_STREAMING;
        while (c->rs == RS_STREAMING)
            if ((rc = process_one(c, err)) < 0)
                return rc;
    }
    return take_failure(c, err);
}

int bolt_exec(BoltConn *c, const char *query, const uint8_t *params, size_t params_len,
              const BoltTxConfig *tx, BoltSummary *summary, P2nErr *err)
{
    int64_t saved = c ? c->fetch_size : 0;
    if (c != NULL)
        c->fetch_size = -1;
    int rc = bolt_run(c, query, params, params_len, tx, err);
    if (c != NULL)
        c->fetch_size = saved;
    if (rc < 0)
        return rc;
    const PsValue *rec;
    while ((rc = bolt_next(c, &rec, err)) == 1)
        ;
    if (rc < 0)
        return rc;
    if (summary != NULL)
        *summary = c->summary;
    return 0;
}

int bolt_begin(BoltConn *c, const BoltTxConfig *tx, P2nErr *err)
{
    ERR_LOCAL(err);
    int rc = prepare(c, err);
    if (rc < 0)
        return rc;
    if (c->tx != TX_NONE)
        return p2n_err_set(err, P2N_ESTATE, "a transaction is already open");
    p2n_buf_reset(&c->scratch);
    ps_pack_struct_header(&c->scratch, MSG_BEGIN, 1);
    if ((rc = pack_tx_extra(c, &c->scratch, tx, err)) < 0)
        return rc;
    msg_send_scratch(c);
    if ((rc = pend_push(c, REQ_BEGIN, err)) < 0)
        return rc;
    c->tx = TX_OPEN;
    memset(&c->tx_acc, 0, sizeof(c->tx_acc));
    c->tx_acc.queued_int_max = INT64_MIN;
    return 0;
}

int bolt_tx_queue(BoltConn *c, const char *query, const uint8_t *params, size_t params_len, P2nErr *err)
{
    ERR_LOCAL(err);
    int rc = prepare(c, err);
    if (rc < 0)
        return rc;
    if (c->tx == TX_NONE)
        return p2n_err_set(err, P2N_ESTATE, "no transaction is open");
    if (c->tx == TX_FAILED)
        return tx_failed_error(c, err);
    if ((rc = queue_run(c, query, params, params_len, NULL, false, REQ_QRUN, err)) < 0 ||
        (rc = queue_pull(c, MSG_PULL, -1, REQ_QPULL, err)) < 0)
        return rc;
    if (c->pend_len > MAX_QUEUED_REPLIES)
        return wait_until(c, 0, err); /* a failure stays recorded for commit */
    return 0;
}

int bolt_commit_send(BoltConn *c, P2nErr *err)
{
    ERR_LOCAL(err);
    int rc = prepare(c, err);
    if (rc < 0)
        return rc;
    if (c->tx == TX_FAILED) {
        c->tx = TX_NONE;
        c->fail_unreported = false;
        return tx_failed_error(c, err);
    }
    if (c->tx == TX_NONE)
        return p2n_err_set(err, P2N_ESTATE, "no transaction is open");
    if (c->commit_sent)
        return p2n_err_set(err, P2N_ESTATE, "the commit was already sent");
    c->commit_pos = c->out.len;
    if ((rc = queue_simple(c, MSG_COMMIT, REQ_COMMIT, err)) < 0)
        return rc;
    c->commit_sent = true;
    return flush(c, err);
}

int bolt_commit(BoltConn *c, BoltSummary *summary, P2nErr *err)
{
    ERR_LOCAL(err);
    int rc = 0;
    if (!c->commit_sent && (rc = bolt_commit_send(c, err)) < 0)
        return rc;
    c->commit_sent = false;
    rc = wait_until(c, 0, err);
    if (rc < 0)
        return rc;
    c->tx = TX_NONE;
    if (c->fail_unreported)
        return take_failure(c, err);
    if (summary != NULL)
        *summary = c->tx_acc;
    return 0;
}

int bolt_rollback(BoltConn *c, P2nErr *err)
{
    ERR_LOCAL(err);
    c->commit_sent = false;
    int rc = prepare(c, err);
    if (rc < 0)
        return rc;
    if (c->tx == TX_FAILED) {
        /* the server dropped the transaction with the failure; RESET clears the FAILED state */
        c->tx = TX_NONE;
        c->fail_unreported = false;
        return bolt_reset(c, err);
    }
    if (c->tx == TX_NONE)
        return 0;
    if ((rc = queue_simple(c, MSG_ROLLBACK, REQ_ROLLBACK, err)) < 0)
        return rc;
    rc = wait_until(c, 0, err);
    c->tx = TX_NONE;
    if (rc < 0)
        return rc;
    return take_failure(c, err);
}

int bolt_reset(BoltConn *c, P2nErr *err)
{
    ERR_LOCAL(err);
    c->commit_sent = false;
    int rc = check_usable(c, err);
    if (rc < 0)
        return rc;
    /* an open result is simply abandoned: RESET ends it; what it still sends is dropped */
    c->fail_unreported = false;
    if (!c->reset_queued) {
        if ((rc = queue_simple(c, MSG_RESET, REQ_RESET, err)) < 0)
            return rc;
        c->reset_queued = true;
    }
    while (c->reset_queued && !c->dead) {
        rc = process_one(c, err);
        if (rc < 0)
            return rc;
    }
    c->rs = RS_NONE;
    if (c->dead) {
        if (err != NULL) {
            *err = c->fail_err;
            p2n_err_prefix(err, "RESET failed");
        }
        return c->fail_err.code ? c->fail_err.code : P2N_ECONNLOST;
    }
    c->tx = TX_NONE;
    c->failed = false;
    c->fail_unreported = false;
    return 0;
}

int bolt_route(BoltConn *c, const char *db, BoltRoutingTable *rt, P2nErr *err)
{
    ERR_LOCAL(err);
    int rc = prepare(c, err);
    if (rc < 0)
        return rc;
    if (c->tx != TX_NONE)
        return p2n_err_set(err, P2N_ESTATE, "ROUTE is not allowed inside a transaction");
    P2nBuf *b = &c->scratch;
    p2n_buf_reset(b);
    ps_pack_struct_header(b, MSG_ROUTE, 3);
    pack_routing(c, b);
    ps_pack_list_header(b, 0);
    if (db != NULL && db[0] != '\0') {
        ps_pack_map_header(b, 1);
        ps_pack_cstr(b, "db");
        ps_pack_cstr(b, db);
    } else {
        ps_pack_map_header(b, 0);
    }
    msg_send_scratch(c);
    if ((rc = pend_push(c, REQ_ROUTE, err)) < 0)
        return rc;
    c->route_dst = rt;
    rc = wait_until(c, 0, err);
    c->route_dst = NULL;
    if (rc < 0)
        return rc;
    return take_failure(c, err);
}
