/*
 * BoltDriver: a copy of the configuration plus, for neo4j:// URIs, the routing table. It opens
 * connections for a mode: bolt:// goes straight to the URI's address; neo4j:// asks a router for
 * the table (ROUTE), keeps it for its ttl, and connects to a WRITE (or READ) server, round robin,
 * trying the next when one does not answer. No pooling: the sync engine keeps its connections.
 */
#include <stdlib.h>
#include <string.h>

#include "bolt/bolt.h"
#include "common/log.h"
#include "common/time.h"

struct BoltDriver {
    BoltConfig cfg;        /* strings point into the copies below */
    char *uri, *user, *password, *database, *user_agent, *tls_ca_file; /* from strdup() */
    BoltUri parsed;
    bool have_table;
    BoltRoutingTable rt;
    unsigned next_writer, next_reader;
};

static char *dup_or_null(const char *s, bool *oom)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        *oom = true;
    return d;
}

int bolt_driver_new(const BoltConfig *cfg, BoltDriver **out, P2nErr *err)
{
    *out = NULL;
    BoltDriver *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    int rc = bolt_uri_parse(cfg->uri, &d->parsed, err);
    if (rc < 0) {
        free(d);
        return rc;
    }
    bool oom = false;
    d->cfg = *cfg;
    d->cfg.uri = d->uri = dup_or_null(cfg->uri, &oom);
    d->cfg.user = d->user = dup_or_null(cfg->user, &oom);
    d->cfg.password = d->password = dup_or_null(cfg->password, &oom);
    d->cfg.database = d->database = dup_or_null(cfg->database, &oom);
    d->cfg.user_agent = d->user_agent = dup_or_null(cfg->user_agent, &oom);
    d->cfg.tls_ca_file = d->tls_ca_file = dup_or_null(cfg->tls_ca_file, &oom);
    if (oom) {
        bolt_driver_free(d);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    }
    *out = d;
    return 0;
}

void bolt_driver_free(BoltDriver *d)
{
    if (d == NULL)
        return;
    free(d->uri);
    free(d->user);
    if (d->password != NULL) {
        memset(d->password, 0, strlen(d->password));
        free(d->password);
    }
    free(d->database);
    free(d->user_agent);
    free(d->tls_ca_file);
    free(d);
}

const BoltConfig *bolt_driver_config(const BoltDriver *d)
{
    return &d->cfg;
}

const BoltRoutingTable *bolt_driver_routing_table(const BoltDriver *d)
{
    return d->have_table ? &d->rt : NULL;
}

void bolt_driver_invalidate(BoltDriver *d)
{
    d->have_table = false;
}

void bolt_driver_forget_writer(BoltDriver *d, const char *address)
{
    if (!d->have_table)
        return;
    for (unsigned i = 0; i < d->rt.n_writers; i++) {
        if (strcmp(d->rt.writers[i], address) == 0) {
            memmove(d->rt.writers[i], d->rt.writers[i + 1], (d->rt.n_writers - i - 1) * sizeof(d->rt.writers[0]));
            d->rt.n_writers--;
            break;
        }
    }
    if (d->rt.n_writers == 0)
        d->have_table = false;
}

/* Asks one router for the table. */
static int refresh_from(BoltDriver *d, const char *host, uint16_t port, P2nErr *err)
{
    BoltConn *c = NULL;
    int rc = bolt_conn_open_address(&d->cfg, host, port, &c, err);
    if (rc < 0)
        return rc;
    BoltRoutingTable rt;
    rc = bolt_route(c, d->cfg.database, &rt, err);
    bolt_conn_close(c);
    if (rc < 0)
        return rc;
    if (rt.n_writers == 0 && rt.n_readers == 0)
        return p2n_err_set(err, P2N_ENEO4J, "routing table from %s:%u lists no servers", host, (unsigned)port);
    d->rt = rt;
    d->have_table = true;
    P2N_DEBUG("routing table refreshed", "router=%s:%u ttl=%lld writers=%u readers=%u routers=%u", host,
              (unsigned)port, (long long)rt.ttl_s, rt.n_writers, rt.n_readers, rt.n_routers);
    return 0;
}

static int refresh(BoltDriver *d, P2nErr *err)
{
    /* known routers first (they may have moved), then the URI's address as the seed */
    BoltRoutingTable old = d->rt;
    bool had = old.n_routers > 0;
    int rc = P2N_ENOTFOUND;
    if (had) {
        for (unsigned i = 0; i < old.n_routers; i++) {
            char host[256];
            uint16_t port;
            if (bolt_address_split(old.routers[i], host, sizeof(host), &port, err) < 0)
                continue;
            if ((rc = refresh_from(d, host, port, err)) == 0)
                return 0;
            if (rc == P2N_EAUTH)
                return rc;
        }
    }
    return refresh_from(d, d->parsed.host, d->parsed.port, err);
}

int bolt_driver_connect(BoltDriver *d, BoltAccessMode mode, BoltConn **out, P2nErr *err)
{
    *out = NULL;
    if (!d->parsed.routing)
        return bolt_conn_open_address(&d->cfg, d->parsed.host, d->parsed.port, out, err);
    int rc;
    if (!d->have_table || p2n_now_mono_ms() >= d->rt.expires_ms) {
        if ((rc = refresh(d, err)) < 0)
            return p2n_err_prefix(err, "could not get a routing table");
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        unsigned n = mode == BOLT_ACCESS_WRITE ? d->rt.n_writers : d->rt.n_readers;
        if (n == 0 && mode == BOLT_ACCESS_READ)
            n = d->rt.n_writers; /* a writer can serve reads */
        if (n == 0)
            rc = p2n_err_set(err, P2N_ENEO4J, "the routing table has no %s server",
                             mode == BOLT_ACCESS_WRITE ? "WRITE" : "READ");
        for (unsigned k = 0; k < n; k++) {
            unsigned *next = mode == BOLT_ACCESS_WRITE ? &d->next_writer : &d->next_reader;
            const char *addr = mode == BOLT_ACCESS_WRITE || d->rt.n_readers == 0
                                   ? d->rt.writers[*next % n] : d->rt.readers[*next % n];
            (*next)++;
            char host[256];
            uint16_t port;
            if ((rc = bolt_address_split(addr, host, sizeof(host), &port, err)) < 0)
                continue;
            rc = bolt_conn_open_address(&d->cfg, host, port, out, err);
            if (rc == 0 || rc == P2N_EAUTH || rc == P2N_ECONFIG)
                return rc;
        }
        /* nobody answered: the table may be stale */
        if (attempt == 0 && (rc = refresh(d, err)) < 0)
            return p2n_err_prefix(err, "could not get a routing table");
    }
    return rc;
}
