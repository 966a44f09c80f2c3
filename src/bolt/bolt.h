/*
 * Bolt: our own Bolt 5 client (5.4 down to 5.0, and 4.4), over TCP or TLS (OpenSSL).
 *
 * Words: a *connection* (BoltConn) is one socket with its Bolt state machine; a *driver*
 * (BoltDriver) holds the configuration and, for neo4j:// URIs, the routing table, and opens
 * connections to the right server (writes go to a WRITE server).
 *
 * Requests are pipelined: each request is appended to an outbox and the outbox is sent only when
 * a reply is needed, so RUN+PULL (and BEGIN+RUN+PULL+...+COMMIT with bolt_tx_queue) go out in one
 * write. Records are streamed: the caller sees one record at a time (bolt_next) while the client
 * fetches PULL-sized batches, so memory stays flat however large the result.
 *
 * Errors: every function returns 0 (or 1 for "a record is ready") or a negative P2N_E* code and
 * fills a P2nErr. A FAILURE from the server becomes P2N_ENEO4J with err->neo_code; the connection
 * then sends RESET by itself before the next request, so it stays usable. An authentication
 * failure is P2N_EAUTH. A connection lost before COMMIT (or an auto-commit RUN) was sent is
 * P2N_ECONNLOST; after it, P2N_EUNKNOWN_OUTCOME. A lost connection is dead: open a new one.
 * p2n_err_class() says which errors are worth a retry.
 *
 * Parameters travel only as PackStream bytes built by the caller (ps_pack_map_header and
 * friends): never spliced into the query text.
 */
#ifndef P2N_BOLT_H
#define P2N_BOLT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "packstream/packstream.h"

/* ---- URIs ---- */

typedef enum BoltTlsMode {
    BOLT_TLS_NONE = 0,   /* bolt://, neo4j:// */
    BOLT_TLS_VERIFY,     /* bolt+s://, neo4j+s://: certificate chain and host name verified */
    BOLT_TLS_SELF_SIGNED /* bolt+ssc://, neo4j+ssc://: encrypted, any certificate accepted */
} BoltTlsMode;

#define BOLT_DEFAULT_PORT 7687
#define BOLT_MAX_ROUTING_CONTEXT 8

typedef struct BoltUri {
    bool routing;                 /* neo4j:// family */
    BoltTlsMode tls;
    char host[256];               /* without brackets for IPv6 literals */
    uint16_t port;
    /* routing context from the query string (?policy=x&region=y), for neo4j:// only */
    unsigned n_context;
    char context_key[BOLT_MAX_ROUTING_CONTEXT][64];
    char context_value[BOLT_MAX_ROUTING_CONTEXT][128];
} BoltUri;

/*
 * Parses bolt://, bolt+s://, bolt+ssc://, neo4j://, neo4j+s://, neo4j+ssc:// URIs:
 * scheme://host[:port][/][?k=v&...]. User info in the URI is refused (credentials come from the
 * environment). Errors: P2N_ECONFIG with a message naming the problem.
 */
int bolt_uri_parse(const char *uri, BoltUri *out, P2nErr *err);

/* "host:port" (IPv6 in brackets) into buf; returns buf. */
const char *bolt_uri_address(const char *host, uint16_t port, char *buf, size_t size);

/* ---- transport (a vtable so tests can inject faults) ---- */

typedef struct BoltTransport BoltTransport; /* opaque to the connection */

typedef struct BoltTlsOptions {
    BoltTlsMode mode;
    const char *ca_file; /* PEM trust store for BOLT_TLS_VERIFY; NULL = the system's */
} BoltTlsOptions;

typedef struct BoltTransportOps {
    /* Connects to host:port within timeout_ms (<= 0: no limit), doing TLS if asked. */
    int (*open)(void *ctx, const char *host, uint16_t port, const BoltTlsOptions *tls,
                int timeout_ms, BoltTransport **out, P2nErr *err);
    /* Reads at least 1 byte (up to len) into buf; *got = bytes read. EOF is P2N_ECONNLOST. */
    int (*read)(BoltTransport *t, void *buf, size_t len, int timeout_ms, size_t *got, P2nErr *err);
    /* Writes all len bytes; on failure *written says how many were handed over before it. */
    int (*write)(BoltTransport *t, const void *buf, size_t len, int timeout_ms, size_t *written,
                 P2nErr *err);
    /* Closes and frees; NULL is a no-op. */
    void (*close)(BoltTransport *t);
} BoltTransportOps;

/* The default transport: TCP (TCP_NODELAY) with poll()-based timeouts, plus TLS via OpenSSL. */
extern const BoltTransportOps bolt_tcp_transport;

/* ---- configuration ---- */

typedef struct BoltConfig {
    const char *uri;         /* required */
    const char *user;        /* NULL or "" with no password: auth scheme "none" */
    const char *password;    /* never logged */
    const char *password_from; /* where the password came from ("NEO4J_PASSWORD"), named when the
                                  server refuses it; static or outliving the driver; NULL = unsaid */
    const char *user_from;     /* likewise for the user ("NEO4J_USER"); NULL = unsaid */
    const char *database;    /* default database for queries; NULL = the server's default */
    const char *user_agent;  /* NULL = "pg2neo/<version>" */
    int connect_timeout_ms;  /* 0 = 10 s; < 0 = none */
    int read_timeout_ms;     /* 0 = 300 s; < 0 = none (waits for a long query's first reply) */
    int write_timeout_ms;    /* 0 = 60 s; < 0 = none */
    const char *tls_ca_file; /* PEM file of trusted certificates for +s schemes; NULL = system */
    size_t max_message;      /* largest message accepted from the server; 0 = 256 MiB */
    int64_t fetch_size;      /* records per PULL while streaming; 0 = 1000; -1 = all at once */
    /* 0/0: offer 5.4..5.0 then 4.4. Otherwise offer exactly this version (tests). */
    uint8_t version_major, version_minor;
    const BoltTransportOps *transport; /* NULL = bolt_tcp_transport */
    void *transport_ctx;               /* passed to transport->open */
} BoltConfig;

/* Strings a BoltConfig filled from the environment points into (caller-owned storage). */
typedef struct BoltEnv {
    char uri[512];
    char user[256];
    char password[1024];
    char database[128];
} BoltEnv;

/*
 * Fills cfg (zeroed first) from NEO4J_URI (default bolt://127.0.0.1:7687), NEO4J_USER (default
 * "neo4j"), NEO4J_PASSWORD or NEO4J_PASSWORD_FILE (first line), NEO4J_DATABASE. The strings live
 * in *env. The password is registered with the log's secret masking. Errors: P2N_ECONFIG.
 */
int bolt_config_from_env(BoltConfig *cfg, BoltEnv *env, P2nErr *err);

/* ---- connection ---- */

typedef struct BoltConn BoltConn;

/*
 * Opens a connection to the URI's own address (for neo4j:// URIs too: use BoltDriver to follow
 * the routing table): connect, handshake, HELLO (+LOGON). *out is NULL on failure.
 * Errors: P2N_EIO/P2N_ETIMEDOUT/P2N_ECONNLOST (network), P2N_ETLS, P2N_EPROTO (not Bolt, e.g.
 * the HTTP port, or no common version), P2N_EAUTH, P2N_ENEO4J, P2N_ECONFIG.
 */
int bolt_conn_open(const BoltConfig *cfg, BoltConn **out, P2nErr *err);

/* As bolt_conn_open, to host:port instead of the URI's address (TLS and routing as the URI says). */
int bolt_conn_open_address(const BoltConfig *cfg, const char *host, uint16_t port, BoltConn **out,
                           P2nErr *err);

/* Sends GOODBYE (if the connection is alive), closes and frees. NULL is a no-op. */
void bolt_conn_close(BoltConn *c);

/* Negotiated version, e.g. 5 and 4. */
void bolt_conn_version(const BoltConn *c, int *major, int *minor);
/* The server's agent string from HELLO's SUCCESS ("Neo4j/5.26.0"); "" if none. */
const char *bolt_conn_server_agent(const BoltConn *c);
/* connection_id from HELLO's SUCCESS ("bolt-12"). */
const char *bolt_conn_id(const BoltConn *c);
/* "host:port" this connection talks to. */
const char *bolt_conn_address(const BoltConn *c);
/* False once the connection has been lost or is in a state it cannot leave (HELLO failed...). */
bool bolt_conn_usable(const BoltConn *c);
/* True while an explicit transaction is open. */
bool bolt_conn_in_tx(const BoltConn *c);

/* Bookkeeping for the sync engine and benchmarks: bytes and messages sent/received. */
typedef struct BoltConnStats {
    uint64_t bytes_sent, bytes_received;
    uint64_t messages_sent, messages_received;
    uint64_t writes;  /* write calls (pipelining keeps this low) */
} BoltConnStats;
void bolt_conn_stats(const BoltConn *c, BoltConnStats *out);

/* ---- queries ---- */

typedef enum BoltAccessMode { BOLT_ACCESS_WRITE = 0, BOLT_ACCESS_READ = 1 } BoltAccessMode;

/* Per-transaction settings (auto-commit RUN or BEGIN); NULL means all defaults. */
typedef struct BoltTxConfig {
    const char *database;          /* NULL = the config's database (or the server default) */
    int64_t timeout_ms;            /* tx_timeout; 0 = the server's default */
    const uint8_t *metadata;       /* tx_metadata as PackStream map bytes; NULL = none */
    size_t metadata_len;
    BoltAccessMode mode;           /* mode "r" for READ */
    const char *const *bookmarks;  /* bookmarks to wait for */
    size_t n_bookmarks;
} BoltTxConfig;

/* Counters from the end of a result (PULL's SUCCESS "stats"), and what else it says. */
typedef struct BoltSummary {
    int64_t nodes_created, nodes_deleted;
    int64_t relationships_created, relationships_deleted;
    int64_t properties_set, labels_added, labels_removed;
    int64_t indexes_added, indexes_removed, constraints_added, constraints_removed;
    int64_t system_updates;
    bool contains_updates;
    char type[4];        /* "r", "w", "rw", "s" */
    char db[128];
    char bookmark[512];  /* auto-commit only ("" otherwise) */
    int64_t t_first_ms, t_last_ms;
    uint64_t records;    /* records streamed for this result */
    /* In a commit's summary: the largest integer found as the first field of a record of the
       queued statements (INT64_MIN when none had one). Lets a write statement report a value
       (the sync's version guard reports the newest version that made it skip a row). */
    int64_t queued_int_max;
} BoltSummary;

/*
 * Starts a query: RUN (params: a PackStream map, pre-encoded, or NULL for {}) pipelined with the
 * first PULL, then waits for RUN's reply. Inside a transaction tx must be NULL; outside, the query
 * is an auto-commit transaction configured by tx. Then call bolt_next until it returns 0.
 * Only one result may be open at a time; a new request first discards the rest of an open one.
 */
int bolt_run(BoltConn *c, const char *query, const uint8_t *params, size_t params_len,
             const BoltTxConfig *tx, P2nErr *err);

/* As bolt_run, with parameters given as a decoded value (a PS_MAP, or NULL). */
int bolt_run_value(BoltConn *c, const char *query, const PsValue *params, const BoltTxConfig *tx,
                   P2nErr *err);

/* The open result's field names (valid until the next bolt_run). */
const char *const *bolt_fields(const BoltConn *c, size_t *n);

/*
 * Streams the open result: 1 = *record is the next record (a PS_LIST, valid until the next call
 * on the connection), 0 = the result is complete (bolt_summary is filled), < 0 = error.
 */
int bolt_next(BoltConn *c, const PsValue **record, P2nErr *err);

/* The summary of the last completed result. */
const BoltSummary *bolt_summary(const BoltConn *c);

/* Throws away the rest of an open result (DISCARD); the summary is still filled. */
int bolt_discard(BoltConn *c, P2nErr *err);

/*
 * Runs a query to its end without looking at records (RUN + PULL all, one write) and fills
 * *summary (may be NULL). The write path of the sync engine.
 */
int bolt_exec(BoltConn *c, const char *query, const uint8_t *params, size_t params_len,
              const BoltTxConfig *tx, BoltSummary *summary, P2nErr *err);

/* ---- explicit transactions ---- */

/*
 * BEGIN. The message is queued, not sent: it goes out with the first RUN (one round trip less),
 * and its FAILURE, if any, is reported by that call.
 */
int bolt_begin(BoltConn *c, const BoltTxConfig *tx, P2nErr *err);

/*
 * Queues RUN + PULL all inside the transaction without waiting for replies; bolt_commit (or the
 * next call that needs a reply) sends them all in one write and checks every reply. The fastest
 * way to write several statements: BEGIN, RUN, PULL, ..., COMMIT in one round trip.
 * Summaries of queued statements are added into the commit's summary.
 */
int bolt_tx_queue(BoltConn *c, const char *query, const uint8_t *params, size_t params_len,
                  P2nErr *err);

/* COMMIT; summary (may be NULL) receives the counters of queued statements and the bookmark. */
int bolt_commit(BoltConn *c, BoltSummary *summary, P2nErr *err);

/*
 * The first half of bolt_commit: sends every queued message and the COMMIT, and returns without
 * waiting for a reply, so that the caller can do other work (not on this connection) while the
 * server runs the transaction. bolt_commit then collects the replies and reports the outcome.
 */
int bolt_commit_send(BoltConn *c, P2nErr *err);

/* ROLLBACK. After a failure the transaction is already gone; rollback then just resets. */
int bolt_rollback(BoltConn *c, P2nErr *err);

/* RESET: back to READY after a failure (done automatically before the next request). */
int bolt_reset(BoltConn *c, P2nErr *err);

/* ---- routing (neo4j://) ---- */

#define BOLT_MAX_SERVERS 16

typedef struct BoltRoutingTable {
    int64_t ttl_s;
    int64_t expires_ms;      /* monotonic ms */
    char db[128];
    unsigned n_routers, n_readers, n_writers;
    char routers[BOLT_MAX_SERVERS][272];
    char readers[BOLT_MAX_SERVERS][272];
    char writers[BOLT_MAX_SERVERS][272];
} BoltRoutingTable;

/* Sends ROUTE for db (NULL = default database) and parses the table. */
int bolt_route(BoltConn *c, const char *db, BoltRoutingTable *rt, P2nErr *err);

/* Splits "host:port" (or "[v6]:port"); port defaults to 7687. */
int bolt_address_split(const char *address, char *host, size_t host_size, uint16_t *port, P2nErr *err);

typedef struct BoltDriver BoltDriver;

/* Copies cfg (strings included) and parses its URI. Nothing is connected yet. */
int bolt_driver_new(const BoltConfig *cfg, BoltDriver **out, P2nErr *err);
void bolt_driver_free(BoltDriver *d);

/*
 * Opens a connection for mode: bolt:// URIs go to their address; neo4j:// URIs fetch (or reuse,
 * within its ttl) the routing table and go to a WRITE (or READ) server, trying the next one if a
 * server does not answer.
 */
int bolt_driver_connect(BoltDriver *d, BoltAccessMode mode, BoltConn **out, P2nErr *err);

/* Drops address from the writers (after NotALeader etc.); the table is refreshed when empty. */
void bolt_driver_forget_writer(BoltDriver *d, const char *address);

/* Forces a routing table refresh on the next connect. */
void bolt_driver_invalidate(BoltDriver *d);

/* The current routing table (NULL for bolt:// or before the first neo4j:// connect). */
const BoltRoutingTable *bolt_driver_routing_table(const BoltDriver *d);

/* The driver's configuration (its strings owned by the driver). */
const BoltConfig *bolt_driver_config(const BoltDriver *d);

#endif
