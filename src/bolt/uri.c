/* Bolt URIs (bolt://, neo4j:// and their +s/+ssc forms), addresses, and configuration from the environment. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bolt/bolt.h"
#include "common/log.h"

static int parse_port(const char *s, size_t n, uint16_t *port, P2nErr *err)
{
    if (n == 0 || n > 5)
        return p2n_err_set(err, P2N_ECONFIG, "invalid port \"%.*s\"", (int)(n > 16 ? 16 : n), s);
    unsigned long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return p2n_err_set(err, P2N_ECONFIG, "invalid port \"%.*s\"", (int)n, s);
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return p2n_err_set(err, P2N_ECONFIG, "port %lu is out of range", v);
    *port = (uint16_t)v;
    return 0;
}

/* Parses host[:port] or [v6][:port] of length n. */
static int parse_hostport(const char *s, size_t n, char *host, size_t host_size, uint16_t *port,
                          P2nErr *err)
{
    const char *h;
    size_t hn;
    const char *rest;
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (close == NULL)
            return p2n_err_set(err, P2N_ECONFIG, "missing \"]\" in address \"%.*s\"", (int)n, s);
        h = s + 1;
        hn = (size_t)(close - h);
        rest = close + 1;
        if (rest < s + n && *rest != ':')
            return p2n_err_set(err, P2N_ECONFIG, "unexpected text after \"]\" in address \"%.*s\"", (int)n, s);
    } else {
        const char *colon = memchr(s, ':', n);
        h = s;
        hn = colon ? (size_t)(colon - s) : n;
        rest = colon ? colon : s + n;
        if (colon && memchr(colon + 1, ':', n - (size_t)(colon + 1 - s)) != NULL)
            return p2n_err_set(err, P2N_ECONFIG,
                               "an IPv6 address must be written in brackets: \"%.*s\"", (int)n, s);
    }
    if (hn == 0)
        return p2n_err_set(err, P2N_ECONFIG, "missing host name in \"%.*s\"", (int)n, s);
    if (hn >= host_size)
        return p2n_err_set(err, P2N_ECONFIG, "host name is too long (%zu bytes)", hn);
    for (size_t i = 0; i < hn; i++) {
        unsigned char ch = (unsigned char)h[i];
        if (ch <= ' ' || ch == '/' || ch == '@' || ch == '?' || ch == '#' || ch >= 0x7f)
            return p2n_err_set(err, P2N_ECONFIG, "invalid character in host name \"%.*s\"", (int)hn, h);
    }
    memcpy(host, h, hn);
    host[hn] = '\0';
    *port = BOLT_DEFAULT_PORT;
    if (rest < s + n) { /* ":port" */
        rest++;
        return parse_port(rest, (size_t)(s + n - rest), port, err);
    }
    return 0;
}

int bolt_address_split(const char *address, char *host, size_t host_size, uint16_t *port, P2nErr *err)
{
    if (address == NULL)
        return p2n_err_set(err, P2N_ECONFIG, "missing address");
    return parse_hostport(address, strlen(address), host, host_size, port, err);
}

const char *bolt_uri_address(const char *host, uint16_t port, char *buf, size_t size)
{
    if (strchr(host, ':') != NULL)
        snprintf(buf, size, "[%s]:%u", host, (unsigned)port);
    else
        snprintf(buf, size, "%s:%u", host, (unsigned)port);
    return buf;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into out (size bytes); -1 if invalid or too long. */
static int pct_decode(const char *s, size_t n, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = hi * 16 + lo;
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (c == 0 || o + 1 >= size)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

static int parse_query(const char *q, size_t n, BoltUri *u, P2nErr *err)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && q[j] != '&')
            j++;
        if (j > i) {
            const char *eq = memchr(q + i, '=', j - i);
            if (eq == NULL || eq == q + i)
                return p2n_err_set(err, P2N_ECONFIG, "invalid routing context \"%.*s\" (expected key=value)",
                                   (int)(j - i), q + i);
            if (u->n_context >= BOLT_MAX_ROUTING_CONTEXT)
                return p2n_err_set(err, P2N_ECONFIG, "too many routing context entries (at most %d)",
                                   BOLT_MAX_ROUTING_CONTEXT);
            size_t kn = (size_t)(eq - (q + i));
            if (pct_decode(q + i, kn, u->context_key[u->n_context], sizeof(u->context_key[0])) < 0 ||
                pct_decode(eq + 1, (size_t)(q + j - (eq + 1)), u->context_value[u->n_context],
                           sizeof(u->context_value[0])) < 0)
                return p2n_err_set(err, P2N_ECONFIG, "invalid routing context \"%.*s\"", (int)(j - i), q + i);
            if (strcmp(u->context_key[u->n_context], "address") == 0)
                return p2n_err_set(err, P2N_ECONFIG, "the routing context may not set \"address\"");
            u->n_context++;
        }
        i = j + 1;
    }
    return 0;
}

int bolt_uri_parse(const char *uri, BoltUri *out, P2nErr *err)
{
    static const struct {
        const char *prefix;
        bool routing;
        BoltTlsMode tls;
    } schemes[] = {
        {"bolt://", false, BOLT_TLS_NONE},       {"bolt+s://", false, BOLT_TLS_VERIFY},
        {"bolt+ssc://", false, BOLT_TLS_SELF_SIGNED}, {"neo4j://", true, BOLT_TLS_NONE},
        {"neo4j+s://", true, BOLT_TLS_VERIFY},   {"neo4j+ssc://", true, BOLT_TLS_SELF_SIGNED},
    };
    memset(out, 0, sizeof(*out));
    if (uri == NULL || uri[0] == '\0')
        return p2n_err_set(err, P2N_ECONFIG, "missing Neo4j URI");
    const char *rest = NULL;
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        size_t pn = strlen(schemes[i].prefix);
        if (strncasecmp(uri, schemes[i].prefix, pn) == 0) {
            rest = uri + pn;
            out->routing = schemes[i].routing;
            out->tls = schemes[i].tls;
            break;
        }
    }
    if (rest == NULL) {
        const char *sep = strstr(uri, "://");
        if (sep != NULL)
            return p2n_err_set(err, P2N_ECONFIG,
                               "unsupported URI scheme \"%.*s\" in Neo4j URI (use bolt, bolt+s, bolt+ssc, "
                               "neo4j, neo4j+s or neo4j+ssc)", (int)(sep - uri > 32 ? 32 : sep - uri), uri);
        return p2n_err_set(err, P2N_ECONFIG, "invalid Neo4j URI: expected scheme://host[:port]");
    }
    size_t n = strcspn(rest, "/?#");
    if (memchr(rest, '@', n) != NULL)
        return p2n_err_set(err, P2N_ECONFIG,
                           "credentials in the Neo4j URI are not accepted; use NEO4J_USER and NEO4J_PASSWORD");
    int rc = parse_hostport(rest, n, out->host, sizeof(out->host), &out->port, err);
    if (rc < 0)
        return rc;
    const char *p = rest + n;
    if (*p == '/')
        p++;
    if (*p == '?') {
        p++;
        size_t qn = strcspn(p, "#");
        if (!out->routing && qn > 0)
            return p2n_err_set(err, P2N_ECONFIG, "a routing context (?...) is only allowed with neo4j:// URIs");
        rc = parse_query(p, qn, out, err);
        if (rc < 0)
            return rc;
        p += qn;
    }
    if (*p == '#')
        return p2n_err_set(err, P2N_ECONFIG, "a fragment (#...) is not allowed in a Neo4j URI");
    if (*p != '\0')
        return p2n_err_set(err, P2N_ECONFIG, "unexpected path \"%s\" in Neo4j URI", p);
    return 0;
}

static int copy_env(const char *name, char *dst, size_t size, const char *dflt, P2nErr *err)
{
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0')
        v = dflt;
    if (v == NULL) {
        dst[0] = '\0';
        return 0;
    }
    if (strlen(v) >= size)
        return p2n_err_set(err, P2N_ECONFIG, "%s is too long", name);
    strcpy(dst, v);
    return 0;
}

int bolt_config_from_env(BoltConfig *cfg, BoltEnv *env, P2nErr *err)
{
    memset(cfg, 0, sizeof(*cfg));
    memset(env, 0, sizeof(*env));
    int rc;
    if ((rc = copy_env("NEO4J_URI", env->uri, sizeof(env->uri), "bolt://127.0.0.1:7687", err)) < 0 ||
        (rc = copy_env("NEO4J_USER", env->user, sizeof(env->user), "neo4j", err)) < 0 ||
        (rc = copy_env("NEO4J_DATABASE", env->database, sizeof(env->database), NULL, err)) < 0 ||
        (rc = copy_env("NEO4J_PASSWORD", env->password, sizeof(env->password), NULL, err)) < 0)
        return rc;
    const char *file = getenv("NEO4J_PASSWORD_FILE");
    if (env->password[0] == '\0' && file != NULL && file[0] != '\0') {
        FILE *f = fopen(file, "r");
        if (f == NULL)
            return p2n_err_set(err, P2N_ECONFIG, "could not open NEO4J_PASSWORD_FILE \"%s\": %s", file,
                               strerror(errno));
        if (fgets(env->password, (int)sizeof(env->password), f) == NULL)
            env->password[0] = '\0';
        fclose(f);
        env->password[strcspn(env->password, "\r\n")] = '\0';
        if (env->password[0] == '\0')
            return p2n_err_set(err, P2N_ECONFIG, "NEO4J_PASSWORD_FILE \"%s\" is empty", file);
    }
    p2n_log_add_secret(env->password);
    cfg->uri = env->uri;
    cfg->user = env->user;
    cfg->password_from = env->password[0] == '\0'                 ? NULL
                         : getenv("NEO4J_PASSWORD") && *getenv("NEO4J_PASSWORD") ? "NEO4J_PASSWORD"
                                                                               : "NEO4J_PASSWORD_FILE";
    cfg->user_from = getenv("NEO4J_USER") && *getenv("NEO4J_USER") ? "NEO4J_USER" : "the default";
    cfg->password = env->password[0] ? env->password : NULL;
    cfg->database = env->database[0] ? env->database : NULL;
    return 0;
}
