/*
 * The mapping loader: YAML (libyaml's document API, which keeps each node's line) into a
 * Mapping, with ${VAR} / ${VAR:-default} expansion, defaults from the environment, and
 * structural checks that need no database. Every problem is collected with its file:line;
 * an unknown key gets the closest valid key suggested.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "common/log.h"
#include "mapping/mapping.h"

typedef struct Ld {
    yaml_document_t doc;
    const char *path;
    MappingEnvFn env;
    void *env_ctx;
    MappingDiags *diags;
    MappingDiags own; /* used when the caller passes no diags */
    size_t nerr;
    char first[900];
} Ld;

static const char *env_default(const char *name, void *ctx)
{
    (void)ctx;
    return getenv(name);
}

static int node_line(const yaml_node_t *n)
{
    return n ? (int)n->start_mark.line + 1 : 0;
}

static void lerr(Ld *ld, const yaml_node_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void lerr(Ld *ld, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (ld->nerr == 0)
        snprintf(ld->first, sizeof(ld->first), "%s:%d: %s", ld->path, node_line(n), msg);
    ld->nerr++;
    mapping_diags_add(ld->diags, "%s:%d: %s", ld->path, node_line(n), msg);
}

static yaml_node_t *node_get(Ld *ld, int id)
{
    return yaml_document_get_node(&ld->doc, id);
}

static const char *node_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return "a scalar";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a map";
    default:
        return "nothing";
    }
}

/* The raw text of a scalar key (no expansion), or NULL. */
static const char *key_text(const yaml_node_t *k)
{
    if (k == NULL || k->type != YAML_SCALAR_NODE)
        return NULL;
    return (const char *)k->data.scalar.value;
}

/* ---- ${VAR} expansion ---- */
static char *expand(Ld *ld, const yaml_node_t *n, const char *s)
{
    P2nBuf b;
    p2n_buf_init(&b);
    for (const char *p = s; *p;) {
        if (p[0] == '$' && p[1] == '$') {
            p2n_buf_append_byte(&b, '$');
            p += 2;
            continue;
        }
        if (p[0] == '$' && p[1] == '{') {
            const char *q = p + 2;
            const char *name = q;
            while (*q == '_' || isalnum((unsigned char)*q))
                q++;
            size_t nlen = (size_t)(q - name);
            const char *def = NULL;
            size_t dlen = 0;
            if (q[0] == ':' && q[1] == '-') {
                def = q + 2;
                const char *e = strchr(def, '}');
                if (e == NULL) {
                    lerr(ld, n, "unterminated \"${\" in \"%s\"", s);
                    p2n_buf_free(&b);
                    return NULL;
                }
                dlen = (size_t)(e - def);
                q = e;
            }
            if (*q != '}' || nlen == 0 || isdigit((unsigned char)name[0])) {
                lerr(ld, n, "invalid variable reference in \"%s\" (use ${NAME} or ${NAME:-default})", s);
                p2n_buf_free(&b);
                return NULL;
            }
            char var[256];
            if (nlen >= sizeof(var)) {
                lerr(ld, n, "variable name too long in \"%s\"", s);
                p2n_buf_free(&b);
                return NULL;
            }
            memcpy(var, name, nlen);
            var[nlen] = '\0';
            const char *val = ld->env(var, ld->env_ctx);
            if (val != NULL && (def == NULL || val[0] != '\0'))
                p2n_buf_append_str(&b, val);
            else if (def != NULL)
                p2n_buf_append(&b, def, dlen);
            else {
                lerr(ld, n, "environment variable \"%s\" is not set", var);
                p2n_buf_free(&b);
                return NULL;
            }
            p = q + 1;
            continue;
        }
        p2n_buf_append_byte(&b, (uint8_t)*p++);
    }
    p2n_buf_append(&b, "", 0);
    if (b.failed) {
        p2n_buf_free(&b);
        return NULL;
    }
    char *out = p2n_buf_steal(&b);
    if (out == NULL)
        out = strdup("");
    return out;
}

/* A scalar value, expanded; NULL after reporting an error. */
static char *scalar(Ld *ld, const yaml_node_t *n, const char *what)
{
    if (n == NULL || n->type != YAML_SCALAR_NODE) {
        lerr(ld, n, "%s must be a scalar, not %s", what, n ? node_kind(n) : "nothing");
        return NULL;
    }
    if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length) {
        lerr(ld, n, "%s contains a NUL character", what);
        return NULL;
    }
    return expand(ld, n, (const char *)n->data.scalar.value);
}

/* A non-empty name (label, type, column...). */
static char *name_of(Ld *ld, const yaml_node_t *n, const char *what)
{
    char *s = scalar(ld, n, what);
    if (s != NULL && s[0] == '\0') {
        lerr(ld, n, "%s must not be empty", what);
        free(s);
        return NULL;
    }
    return s;
}

/* A name that becomes a Neo4j label, relationship type or property key: non-empty and valid
 * UTF-8 once expanded (a ${VAR} can bring any bytes), so that it reads back identical. */
static bool neo_name_ok(Ld *ld, const yaml_node_t *n, const char *ctx, const char *what, const char *s)
{
    char why[96];
    const char *p = mapping_neo4j_name_problem(s, why, sizeof(why));
    if (p == NULL)
        return true;
    lerr(ld, n, "%s: %s cannot be a Neo4j name: it %s", ctx, what, p);
    return false;
}

static char *neo_name(Ld *ld, const yaml_node_t *n, const char *ctx, const char *what)
{
    char *s = name_of(ld, n, what);
    if (s != NULL && !neo_name_ok(ld, n, ctx, what, s)) {
        free(s);
        return NULL;
    }
    return s;
}

static bool parse_bool(Ld *ld, const yaml_node_t *n, const char *what, bool *out)
{
    char *s = scalar(ld, n, what);
    if (s == NULL)
        return false;
    static const char *const t[] = {"true", "yes", "on", "True", "TRUE"};
    static const char *const f[] = {"false", "no", "off", "False", "FALSE"};
    for (size_t i = 0; i < 5; i++) {
        if (strcmp(s, t[i]) == 0 || strcmp(s, f[i]) == 0) {
            *out = strcmp(s, t[i]) == 0;
            free(s);
            return true;
        }
    }
    lerr(ld, n, "%s must be true or false, not \"%s\"", what, s);
    free(s);
    return false;
}

static bool parse_int(Ld *ld, const yaml_node_t *n, const char *what, int64_t min, int64_t max, int64_t *out)
{
    char *s = scalar(ld, n, what);
    if (s == NULL)
        return false;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (s[0] == '\0' || *end != '\0' || errno != 0 || v < min || v > max) {
        lerr(ld, n, "%s must be an integer between %lld and %lld, not \"%s\"", what, (long long)min,
             (long long)max, s);
        free(s);
        return false;
    }
    free(s);
    *out = v;
    return true;
}

/* Checks a map's keys against the valid set: an unknown key is named with the closest valid one;
 * a duplicate key is an error. */
static bool check_map(Ld *ld, const yaml_node_t *n, const char *what, const char *const *valid, size_t nvalid)
{
    if (n == NULL || n->type != YAML_MAPPING_NODE) {
        lerr(ld, n, "%s must be a map, not %s", what, n ? node_kind(n) : "nothing");
        return false;
    }
    bool ok = true;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node_get(ld, p->key);
        const char *ks = key_text(k);
        if (ks == NULL) {
            lerr(ld, k, "keys of %s must be scalars", what);
            ok = false;
            continue;
        }
        bool found = false;
        for (size_t i = 0; i < nvalid; i++)
            if (strcmp(ks, valid[i]) == 0)
                found = true;
        if (!found) {
            const char *sug = mapping_closest(ks, valid, nvalid);
            if (sug)
                lerr(ld, k, "unknown key \"%s\" in %s (did you mean \"%s\"?)", ks, what, sug);
            else
                lerr(ld, k, "unknown key \"%s\" in %s", ks, what);
            ok = false;
        }
        for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++) {
            const char *qs = key_text(node_get(ld, q->key));
            if (qs && strcmp(qs, ks) == 0) {
                lerr(ld, k, "duplicate key \"%s\" in %s", ks, what);
                ok = false;
                break;
            }
        }
    }
    return ok;
}

static yaml_node_t *map_get(Ld *ld, const yaml_node_t *n, const char *key)
{
    if (n == NULL || n->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const char *ks = key_text(node_get(ld, p->key));
        if (ks && strcmp(ks, key) == 0)
            return node_get(ld, p->value);
    }
    return NULL;
}

/* A string or a list of strings into a MappingStr array; duplicates are errors. */
static bool str_list(Ld *ld, const yaml_node_t *n, const char *what, MappingStr **out, size_t *nout)
{
    size_t cnt = n->type == YAML_SEQUENCE_NODE
                     ? (size_t)(n->data.sequence.items.top - n->data.sequence.items.start)
                     : 1;
    if (n->type == YAML_MAPPING_NODE) {
        lerr(ld, n, "%s must be a name or a list of names, not a map", what);
        return false;
    }
    if (cnt == 0) {
        lerr(ld, n, "%s must not be an empty list", what);
        return false;
    }
    if (cnt > MAPPING_MAX_ITEMS) {
        lerr(ld, n, "%s has too many items (%zu)", what, cnt);
        return false;
    }
    MappingStr *a = calloc(cnt, sizeof(*a));
    if (a == NULL)
        return false;
    bool ok = true;
    for (size_t i = 0; i < cnt; i++) {
        const yaml_node_t *it = n->type == YAML_SEQUENCE_NODE
                                    ? node_get(ld, n->data.sequence.items.start[i])
                                    : n;
        a[i].line = node_line(it);
        a[i].s = name_of(ld, it, what);
        if (a[i].s == NULL) {
            ok = false;
            continue;
        }
        for (size_t j = 0; j < i; j++) {
            if (a[j].s && strcmp(a[j].s, a[i].s) == 0) {
                lerr(ld, it, "\"%s\" appears twice in %s", a[i].s, what);
                ok = false;
            }
        }
    }
    *out = a;
    *nout = cnt;
    return ok;
}

/* A map of column -> string into MappingPair array. */
static bool pair_map(Ld *ld, const yaml_node_t *n, const char *what, MappingPair **out, size_t *nout)
{
    if (n->type != YAML_MAPPING_NODE) {
        lerr(ld, n, "%s must be a map of column: value, not %s", what, node_kind(n));
        return false;
    }
    size_t cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    if (cnt > MAPPING_MAX_ITEMS) {
        lerr(ld, n, "%s has too many items", what);
        return false;
    }
    MappingPair *a = calloc(cnt ? cnt : 1, sizeof(*a));
    if (a == NULL)
        return false;
    bool ok = true;
    for (size_t i = 0; i < cnt; i++) {
        yaml_node_pair_t *p = &n->data.mapping.pairs.start[i];
        yaml_node_t *k = node_get(ld, p->key);
        a[i].line = node_line(k);
        a[i].key = name_of(ld, k, what);
        a[i].value = name_of(ld, node_get(ld, p->value), what);
        if (a[i].key == NULL || a[i].value == NULL) {
            ok = false;
            continue;
        }
        for (size_t j = 0; j < i; j++) {
            if (a[j].key && strcmp(a[j].key, a[i].key) == 0) {
                lerr(ld, k, "column \"%s\" appears twice in %s", a[i].key, what);
                ok = false;
            }
        }
    }
    *out = a;
    *nout = cnt;
    return ok;
}

/* Checks an operator-written SQL expression for the soft-delete filter: it is inserted into
 * generated SQL inside parentheses, so it must not be able to close them, end the statement or
 * comment out the rest. It is configuration (trusted), not row data; this catches mistakes. */
static bool check_sql_expr(Ld *ld, const yaml_node_t *n, const char *s)
{
    int depth = 0;
    char quote = 0;
    for (const char *p = s; *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
            continue;
        }
        if (*p == '\'' || *p == '"') {
            quote = *p;
        } else if (*p == '(') {
            depth++;
        } else if (*p == ')') {
            if (--depth < 0)
                break;
        } else if (*p == ';') {
            lerr(ld, n, "delete_when must be one SQL expression (no \";\")");
            return false;
        } else if ((p[0] == '-' && p[1] == '-') || (p[0] == '/' && p[1] == '*')) {
            lerr(ld, n, "delete_when must not contain SQL comments");
            return false;
        } else if (*p == '$') {
            lerr(ld, n, "delete_when must not contain \"$\" (parameters and dollar quoting are not allowed)");
            return false;
        }
    }
    if (quote || depth != 0) {
        lerr(ld, n, "delete_when has unbalanced %s", quote ? "quotes" : "parentheses");
        return false;
    }
    for (const char *p = s; *p; p++)
        if (!isspace((unsigned char)*p))
            return true;
    lerr(ld, n, "delete_when must not be empty");
    return false;
}

/* ---- sections ---- */
static void load_source(Ld *ld, Mapping *m, const yaml_node_t *n)
{
    static const char *const keys[] = {"conninfo", "url", "schema", "capture"};
    if (!check_map(ld, n, "source", keys, 4))
        return;
    yaml_node_t *cap = map_get(ld, n, "capture");
    if (cap) {
        char *v = scalar(ld, cap, "source capture");
        if (v && (strcmp(v, "triggers") == 0 || strcmp(v, "row") == 0))
            m->capture_mode = 0;
        else if (v && strcmp(v, "statement") == 0)
            m->capture_mode = 1;
        else if (v && strcmp(v, "logical") == 0)
            m->capture_mode = 2;
        else if (v)
            lerr(ld, cap, "source capture must be triggers, statement or logical, not \"%s\"", v);
        free(v);
    }
    yaml_node_t *c = map_get(ld, n, "conninfo"), *u = map_get(ld, n, "url"), *s = map_get(ld, n, "schema");
    if (c && u)
        lerr(ld, u, "source has both conninfo and url; give one");
    if (c || u) {
        char *v = scalar(ld, c ? c : u, "source connection");
        if (v) {
            free(m->conninfo);
            m->conninfo = v;
        }
    }
    if (s) {
        char *v = name_of(ld, s, "source schema");
        if (v) {
            free(m->source_schema);
            m->source_schema = v;
        }
    }
}

static bool read_password_file(Ld *ld, const yaml_node_t *n, const char *path, char **out)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        lerr(ld, n, "could not open password file \"%s\": %s", path, strerror(errno));
        return false;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        lerr(ld, n, "password file \"%s\" is not a regular file", path);
        return false;
    }
    char buf[4096];
    size_t len = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[len] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0'; /* the first line, as NEO4J_PASSWORD_FILE is read */
    len = strlen(buf);
    if (len == 0) {
        lerr(ld, n, "password file \"%s\" is empty", path);
        return false;
    }
    *out = strdup(buf);
    return *out != NULL;
}

static void set_str(char **dst, char *v)
{
    if (v) {
        free(*dst);
        *dst = v;
    }
}

static void load_target(Ld *ld, Mapping *m, const yaml_node_t *n)
{
    static const char *const keys[] = {"uri", "user", "password", "password_file", "database"};
    if (!check_map(ld, n, "target", keys, 5))
        return;
    yaml_node_t *v;
    if ((v = map_get(ld, n, "uri")) != NULL)
        set_str(&m->neo4j_uri, name_of(ld, v, "target uri"));
    if ((v = map_get(ld, n, "user")) != NULL)
        set_str(&m->neo4j_user, name_of(ld, v, "target user"));
    if ((v = map_get(ld, n, "database")) != NULL)
        set_str(&m->neo4j_database, scalar(ld, v, "target database"));
    yaml_node_t *pw = map_get(ld, n, "password"), *pf = map_get(ld, n, "password_file");
    if (pw && pf)
        lerr(ld, pf, "target has both password and password_file; give one");
    else if (pw)
        set_str(&m->neo4j_password, scalar(ld, pw, "target password"));
    else if (pf) {
        char *path = name_of(ld, pf, "target password_file");
        char *secret = NULL;
        if (path && read_password_file(ld, pf, path, &secret))
            set_str(&m->neo4j_password, secret);
        free(path);
    }
}

static void load_sync(Ld *ld, Mapping *m, const yaml_node_t *n)
{
    static const char *const keys[] = {"syncIntervalMs", "batchSizeLimit", "syncTimeoutMs", "enableAutoSync",
                                       "maxAttempts",    "backoffBaseMs",  "backoffCapMs",
                                       "conflictScanIntervalMs", "conflictScanSample", "auditRetentionDays",
                                       "schema"};
    if (!check_map(ld, n, "sync", keys, sizeof(keys) / sizeof(keys[0])))
        return;
    yaml_node_t *sv = map_get(ld, n, "schema");
    if (sv) {
        char *sch = scalar(ld, sv, "sync schema");
        if (sch && (sch[0] == '\0' || strlen(sch) > 63))
            lerr(ld, sv, "sync.schema must be a schema name of 1 to 63 bytes");
        set_str(&m->sync.schema, sch);
    }
    struct {
        const char *key;
        int64_t *dst;
        int64_t min, max;
    } ints[] = {
        {"syncIntervalMs", &m->sync.sync_interval_ms, 1, INT32_MAX},
        {"batchSizeLimit", &m->sync.batch_size_limit, 1, 1000000},
        {"syncTimeoutMs", &m->sync.sync_timeout_ms, 1, INT32_MAX},
        {"maxAttempts", &m->sync.max_attempts, 1, 1000},
        {"backoffBaseMs", &m->sync.backoff_base_ms, 1, INT32_MAX},
        {"backoffCapMs", &m->sync.backoff_cap_ms, 1, INT32_MAX},
        {"conflictScanIntervalMs", &m->sync.conflict_scan_interval_ms, 0, INT32_MAX},
        {"conflictScanSample", &m->sync.conflict_scan_sample, 1, 100000},
        {"auditRetentionDays", &m->sync.audit_retention_days, 0, 36500},
    };
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        yaml_node_t *v = map_get(ld, n, ints[i].key);
        if (v)
            parse_int(ld, v, ints[i].key, ints[i].min, ints[i].max, ints[i].dst);
    }
    yaml_node_t *v = map_get(ld, n, "enableAutoSync");
    if (v)
        parse_bool(ld, v, "enableAutoSync", &m->sync.enable_auto_sync);
    if (m->sync.backoff_cap_ms < m->sync.backoff_base_ms)
        lerr(ld, n, "backoffCapMs (%lld) is smaller than backoffBaseMs (%lld)",
             (long long)m->sync.backoff_cap_ms, (long long)m->sync.backoff_base_ms);
}

/* The alerts section (thresholds and windows of the daemon's alert rules; -1 disables a rule). */
static void load_alerts(Ld *ld, Mapping *m, const yaml_node_t *n)
{
    static const char *const keys[] = {"pendingThreshold",  "pendingForMs",      "failedThreshold",
                                       "failedWindowMs",    "latencyMs",         "batchDurationMs",
                                       "conflictsThreshold", "stalenessWarnMs",  "stalenessAlertMs",
                                       "webhookUrl",        "webhookTimeoutMs"};
    if (!check_map(ld, n, "alerts", keys, sizeof(keys) / sizeof(keys[0])))
        return;
    MappingAlerts *a = &m->alerts;
    struct {
        const char *key;
        int64_t *dst;
        int64_t min, max;
    } ints[] = {
        {"pendingThreshold", &a->pending_threshold, -1, INT32_MAX},
        {"pendingForMs", &a->pending_for_ms, 0, INT32_MAX},
        {"failedThreshold", &a->failed_threshold, -1, INT32_MAX},
        {"failedWindowMs", &a->failed_window_ms, 1000, INT32_MAX},
        {"latencyMs", &a->latency_ms, -1, INT32_MAX},
        {"batchDurationMs", &a->batch_duration_ms, -1, INT32_MAX},
        {"conflictsThreshold", &a->conflicts_threshold, -1, INT32_MAX},
        {"stalenessWarnMs", &a->staleness_warn_ms, -1, INT32_MAX},
        {"stalenessAlertMs", &a->staleness_alert_ms, -1, INT32_MAX},
        {"webhookTimeoutMs", &a->webhook_timeout_ms, 100, 60000},
    };
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        yaml_node_t *v = map_get(ld, n, ints[i].key);
        if (v)
            parse_int(ld, v, ints[i].key, ints[i].min, ints[i].max, ints[i].dst);
    }
    yaml_node_t *v = map_get(ld, n, "webhookUrl");
    if (v) {
        char *url = scalar(ld, v, "webhookUrl");
        if (url != NULL && url[0] == '\0') {
            free(url); /* "" = no webhook */
        } else if (url != NULL) {
            bool http = strncmp(url, "http://", 7) == 0;
            const char *host = http ? url + 7 : url; /* only looked at for an http:// URL */
            size_t hl = strcspn(host, "/?#");
            bool ctl = false;
            for (const char *c = url; *c; c++)
                ctl = ctl || (unsigned char)*c <= 0x20 || *c == 0x7f;
            if (!http)
                lerr(ld, v, "webhookUrl must start with \"http://\" (https is not supported; use a local relay)");
            else if (ctl)
                lerr(ld, v, "webhookUrl must not contain spaces or control characters");
            else if (memchr(host, '@', hl) != NULL)
                lerr(ld, v, "webhookUrl must not carry credentials");
            else if (hl == 0 || host[0] == ':')
                lerr(ld, v, "webhookUrl has no host");
            set_str(&a->webhook_url, url);
        }
    }
    if (a->staleness_warn_ms >= 0 && a->staleness_alert_ms >= 0 && a->staleness_warn_ms > a->staleness_alert_ms)
        lerr(ld, n, "stalenessWarnMs (%lld) is greater than stalenessAlertMs (%lld)",
             (long long)a->staleness_warn_ms, (long long)a->staleness_alert_ms);
}

/* Property selection keys shared by entities and join-table relationships. */
static void load_props(Ld *ld, MappingEntity *e, const yaml_node_t *n, const char *what)
{
    yaml_node_t *v;
    e->props_all = true;
    if ((v = map_get(ld, n, "properties")) != NULL) {
        const char *ks = v->type == YAML_SCALAR_NODE ? (const char *)v->data.scalar.value : NULL;
        if (ks && strcmp(ks, "all") == 0) {
            e->props_all = true;
        } else if (v->type == YAML_SEQUENCE_NODE) {
            e->props_all = false;
            if (v->data.sequence.items.top == v->data.sequence.items.start)
                e->props_all = false; /* an empty list: key properties only */
            else
                str_list(ld, v, "properties", &e->include, &e->ninclude);
        } else {
            lerr(ld, v, "properties of %s must be \"all\" or a list of columns", what);
        }
    }
    if ((v = map_get(ld, n, "exclude")) != NULL) {
        if (!e->props_all)
            lerr(ld, v, "exclude applies only with \"properties: all\" (in %s)", what);
        else
            str_list(ld, v, "exclude", &e->exclude, &e->nexclude);
    }
    if ((v = map_get(ld, n, "rename")) != NULL && pair_map(ld, v, "rename", &e->renames, &e->nrenames)) {
        for (size_t i = 0; i < e->nrenames; i++) {
            if (!neo_name_ok(ld, v, what, "renamed property", e->renames[i].value))
                continue;
            if (strncmp(e->renames[i].value, "_p2n_", 5) == 0)
                lerr(ld, v, "property names starting with \"_p2n_\" are reserved (rename of \"%s\")",
                     e->renames[i].key);
            for (size_t j = 0; j < i; j++)
                if (strcmp(e->renames[j].value, e->renames[i].value) == 0)
                    lerr(ld, v, "two columns renamed to the same property \"%s\"", e->renames[i].value);
        }
    }
    if ((v = map_get(ld, n, "convert")) != NULL && pair_map(ld, v, "convert", &e->converts, &e->nconverts)) {
        static const char *const names[] = {"int", "float", "bool", "string", "datetime",
                                            "localdatetime", "date", "map", "bytes"};
        for (size_t i = 0; i < e->nconverts; i++) {
            int c = mapping_conv_parse(e->converts[i].value);
            if (c <= 0) {
                const char *sug = mapping_closest(e->converts[i].value, names, 9);
                mapping_diags_add(ld->diags, "%s:%d: unknown conversion \"%s\" for column \"%s\"%s%s%s",
                                  ld->path, e->converts[i].line, e->converts[i].value, e->converts[i].key,
                                  sug ? " (did you mean \"" : "", sug ? sug : "", sug ? "\"?)" : "");
                if (ld->nerr++ == 0)
                    snprintf(ld->first, sizeof(ld->first), "%s:%d: unknown conversion \"%s\"", ld->path,
                             e->converts[i].line, e->converts[i].value);
            }
        }
    }
    if ((v = map_get(ld, n, "key")) != NULL) {
        e->key_line = node_line(v);
        str_list(ld, v, "key", &e->keys, &e->nkeys);
    }
    if ((v = map_get(ld, n, "delete_when")) != NULL) {
        e->delete_when_line = node_line(v);
        char *s = scalar(ld, v, "delete_when");
        if (s && check_sql_expr(ld, v, s))
            e->delete_when = s;
        else
            free(s);
    }
    if ((v = map_get(ld, n, "schema")) != NULL)
        e->schema = name_of(ld, v, "schema");
    v = map_get(ld, n, "table");
    e->table_line = node_line(v ? v : n);
    if (v == NULL)
        lerr(ld, n, "%s has no table", what);
    else
        e->table = name_of(ld, v, "table");
}

static void load_rel(Ld *ld, MappingEntity *e, MappingRel *r, const yaml_node_t *n)
{
    static const char *const keys[] = {"type", "column", "to", "value", "direction"};
    r->target = -1;
    r->col = -1;
    r->line = node_line(n);
    char what[300];
    snprintf(what, sizeof(what), "a relationship of entity \"%s\"", e->name);
    if (!check_map(ld, n, what, keys, 5))
        return;
    yaml_node_t *v;
    if ((v = map_get(ld, n, "type")) != NULL)
        r->type = neo_name(ld, v, what, "relationship type");
    else
        lerr(ld, n, "%s has no type", what);
    r->column_line = r->to_line = r->line;
    if ((v = map_get(ld, n, "column")) != NULL) {
        r->column = name_of(ld, v, "relationship column");
        r->column_line = node_line(v);
    }
    else
        lerr(ld, n, "%s has no column", what);
    yaml_node_t *to = map_get(ld, n, "to"), *val = map_get(ld, n, "value");
    if (to && val)
        lerr(ld, val, "%s has both to and value; give one", what);
    else if (to) {
        r->to_entity = name_of(ld, to, "relationship target");
        r->to_line = node_line(to);
    }
    else if (val) {
        static const char *const vkeys[] = {"label", "property"};
        if (check_map(ld, val, "value", vkeys, 2)) {
            yaml_node_t *l = map_get(ld, val, "label"), *p = map_get(ld, val, "property");
            if (l)
                r->value_label = neo_name(ld, l, what, "value label");
            else
                lerr(ld, val, "value needs a label");
            r->value_property = p ? neo_name(ld, p, what, "value property") : strdup("name");
        }
    } else {
        lerr(ld, n, "%s needs \"to: Entity\" or \"value: {label: L, property: p}\"", what);
    }
    if ((v = map_get(ld, n, "direction")) != NULL) {
        char *d = scalar(ld, v, "direction");
        if (d && strcmp(d, "in") == 0)
            r->incoming = true;
        else if (d && strcmp(d, "out") != 0)
            lerr(ld, v, "direction must be \"out\" or \"in\", not \"%s\"", d);
        free(d);
    }
}

static void load_entity(Ld *ld, MappingEntity *e, const yaml_node_t *k, const yaml_node_t *n)
{
    static const char *const keys[] = {"table", "schema", "labels", "key", "properties", "exclude",
                                       "rename", "convert", "delete_when", "relationships"};
    e->kind = MAPPING_NODE;
    e->line = node_line(k);
    e->name = name_of(ld, k, "entity name");
    if (e->name == NULL)
        return;
    char what[300];
    snprintf(what, sizeof(what), "entity \"%s\"", e->name);
    if (!check_map(ld, n, what, keys, 10))
        return;
    load_props(ld, e, n, what);
    yaml_node_t *v;
    if ((v = map_get(ld, n, "labels")) != NULL) {
        if (str_list(ld, v, "labels", &e->labels, &e->nlabels))
            for (size_t i = 0; i < e->nlabels; i++)
                if (e->labels[i].s)
                    neo_name_ok(ld, v->type == YAML_SEQUENCE_NODE ? node_get(ld, v->data.sequence.items.start[i]) : v,
                                what, "label", e->labels[i].s);
    } else {
        neo_name_ok(ld, k, what, "label (the entity name)", e->name);
        e->labels = calloc(1, sizeof(*e->labels));
        if (e->labels) {
            e->labels[0].s = strdup(e->name);
            e->labels[0].line = e->line;
            e->nlabels = 1;
        }
    }
    if ((v = map_get(ld, n, "relationships")) != NULL) {
        if (v->type != YAML_SEQUENCE_NODE) {
            lerr(ld, v, "relationships of %s must be a list", what);
            return;
        }
        size_t cnt = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
        if (cnt > MAPPING_MAX_ITEMS) {
            lerr(ld, v, "too many relationships");
            return;
        }
        e->rels = calloc(cnt ? cnt : 1, sizeof(*e->rels));
        if (e->rels == NULL)
            return;
        e->nrels = cnt;
        for (size_t i = 0; i < cnt; i++)
            load_rel(ld, e, &e->rels[i], node_get(ld, v->data.sequence.items.start[i]));
    }
}

static void load_end(Ld *ld, MappingEnd *end, const yaml_node_t *n, const char *what)
{
    static const char *const keys[] = {"entity", "column"};
    end->target = -1;
    end->col = -1;
    end->line = node_line(n);
    if (!check_map(ld, n, what, keys, 2))
        return;
    yaml_node_t *v;
    if ((v = map_get(ld, n, "entity")) != NULL)
        end->entity = name_of(ld, v, "entity");
    else
        lerr(ld, n, "%s needs an entity", what);
    if ((v = map_get(ld, n, "column")) != NULL)
        end->column = name_of(ld, v, "column");
    else
        lerr(ld, n, "%s needs a column", what);
}

static void load_link(Ld *ld, MappingEntity *e, const yaml_node_t *k, const yaml_node_t *n)
{
    static const char *const keys[] = {"table", "schema", "type", "from", "to", "key", "properties",
                                       "exclude", "rename", "convert", "delete_when"};
    e->kind = MAPPING_LINK;
    e->line = node_line(k);
    e->from.target = e->to.target = -1;
    e->from.col = e->to.col = -1;
    e->name = name_of(ld, k, "relationship name");
    if (e->name == NULL)
        return;
    char what[300];
    snprintf(what, sizeof(what), "relationship \"%s\"", e->name);
    if (!check_map(ld, n, what, keys, 11))
        return;
    load_props(ld, e, n, what);
    yaml_node_t *v;
    if ((v = map_get(ld, n, "type")) != NULL)
        e->rel_type = neo_name(ld, v, what, "relationship type");
    else
        lerr(ld, n, "%s has no type", what);
    char w2[340];
    snprintf(w2, sizeof(w2), "from of %s", what);
    if ((v = map_get(ld, n, "from")) != NULL)
        load_end(ld, &e->from, v, w2);
    else
        lerr(ld, n, "%s has no from", what);
    snprintf(w2, sizeof(w2), "to of %s", what);
    if ((v = map_get(ld, n, "to")) != NULL)
        load_end(ld, &e->to, v, w2);
    else
        lerr(ld, n, "%s has no to", what);
}

/* Cross-references that need no database: relationship targets, duplicate names and labels. */
static void check_refs(Ld *ld, Mapping *m)
{
    const char **names = calloc(m->nentities ? m->nentities : 1, sizeof(*names));
    if (names == NULL)
        return;
    size_t nn = 0;
    for (size_t i = 0; i < m->nentities; i++)
        if (m->entities[i].kind == MAPPING_NODE && m->entities[i].name)
            names[nn++] = m->entities[i].name;
    for (size_t i = 0; i < m->nentities; i++) {
        MappingEntity *e = &m->entities[i];
        if (e->name == NULL)
            continue;
        for (size_t j = 0; j < i; j++) {
            if (m->entities[j].name && strcmp(m->entities[j].name, e->name) == 0) {
                mapping_diags_add(ld->diags, "%s:%d: the name \"%s\" is used twice (line %d); entity and "
                                  "relationship names must be unique", ld->path, e->line, e->name,
                                  m->entities[j].line);
                if (ld->nerr++ == 0)
                    snprintf(ld->first, sizeof(ld->first), "%s:%d: the name \"%s\" is used twice",
                             ld->path, e->line, e->name);
            }
            /* one table, one entity: the capture triggers (and the logical decoder) queue a
             * table's changes under one entity type, so a second entity on the table would
             * replace the first one's triggers and the first would never be captured again */
            const MappingEntity *o = &m->entities[j];
            if (e->table && o->table && strcmp(e->table, o->table) == 0 &&
                strcmp(e->schema ? e->schema : m->source_schema, o->schema ? o->schema : m->source_schema) == 0) {
                const char *sch = e->schema ? e->schema : m->source_schema;
                mapping_diags_add(ld->diags, "%s:%d: %s \"%s\": table \"%s.%s\" is already mapped by %s \"%s\" "
                                  "(line %d); a table can be mapped once, since its capture queues one entity "
                                  "type (map its other relationships inside that entity, with "
                                  "\"relationships:\")", ld->path, e->table_line,
                                  e->kind == MAPPING_NODE ? "entity" : "relationship", e->name, sch, e->table,
                                  o->kind == MAPPING_NODE ? "entity" : "relationship", o->name, o->table_line);
                if (ld->nerr++ == 0)
                    snprintf(ld->first, sizeof(ld->first), "%s:%d: %s \"%s\": table \"%s.%s\" is already mapped "
                             "by %s \"%s\" (line %d)", ld->path, e->table_line,
                             e->kind == MAPPING_NODE ? "entity" : "relationship", e->name, sch, e->table,
                             o->kind == MAPPING_NODE ? "entity" : "relationship", o->name, o->table_line);
            }
            if (e->kind == MAPPING_NODE && m->entities[j].kind == MAPPING_NODE && e->nlabels &&
                m->entities[j].nlabels && e->labels[0].s && m->entities[j].labels[0].s &&
                strcmp(e->labels[0].s, m->entities[j].labels[0].s) == 0) {
                mapping_diags_add(ld->diags, "%s:%d: entity \"%s\": primary label \"%s\" is already the "
                                  "primary label of entity \"%s\"", ld->path, e->labels[0].line, e->name,
                                  e->labels[0].s, m->entities[j].name);
                if (ld->nerr++ == 0)
                    snprintf(ld->first, sizeof(ld->first), "%s:%d: primary label \"%s\" used twice",
                             ld->path, e->labels[0].line, e->labels[0].s);
            }
        }
        MappingEnd *ends[2] = {&e->from, &e->to};
        for (int k = 0; k < 2 && e->kind == MAPPING_LINK; k++) {
            if (ends[k]->entity == NULL)
                continue;
            MappingEntity *t = mapping_entity_find(m, ends[k]->entity);
            if (t == NULL || t->kind != MAPPING_NODE) {
                const char *sug = mapping_closest(ends[k]->entity, names, nn);
                mapping_diags_add(ld->diags, "%s:%d: relationship \"%s\": %s entity \"%s\" is not a mapped "
                                  "node entity%s%s%s", ld->path, ends[k]->line, e->name, k ? "to" : "from",
                                  ends[k]->entity, sug ? " (did you mean \"" : "", sug ? sug : "",
                                  sug ? "\"?)" : "");
                if (ld->nerr++ == 0)
                    snprintf(ld->first, sizeof(ld->first), "%s:%d: unknown entity \"%s\"", ld->path,
                             ends[k]->line, ends[k]->entity);
            } else {
                ends[k]->target = (int)(t - m->entities);
            }
        }
        for (size_t r = 0; r < e->nrels; r++) {
            MappingRel *rel = &e->rels[r];
            if (rel->to_entity) {
                MappingEntity *t = mapping_entity_find(m, rel->to_entity);
                if (t != NULL && t->kind != MAPPING_NODE) {
                    mapping_diags_add(ld->diags, "%s:%d: entity \"%s\": relationship %s targets \"%s\", a join-table "
                                      "relationship, not a node entity", ld->path, rel->to_line, e->name,
                                      rel->type ? rel->type : "?", rel->to_entity);
                    if (ld->nerr++ == 0)
                        snprintf(ld->first, sizeof(ld->first), "%s:%d: \"%s\" is not a node entity", ld->path,
                                 rel->to_line, rel->to_entity);
                } else if (t == NULL) {
                    const char *sug = mapping_closest(rel->to_entity, names, nn);
                    mapping_diags_add(ld->diags, "%s:%d: entity \"%s\": relationship %s targets unknown "
                                      "entity \"%s\"%s%s%s", ld->path, rel->to_line, e->name,
                                      rel->type ? rel->type : "?", rel->to_entity,
                                      sug ? " (did you mean \"" : "", sug ? sug : "", sug ? "\"?)" : "");
                    if (ld->nerr++ == 0)
                        snprintf(ld->first, sizeof(ld->first), "%s:%d: unknown entity \"%s\"", ld->path,
                                 rel->to_line, rel->to_entity);
                } else {
                    rel->target = (int)(t - m->entities);
                }
            }
            /* two relationships of the same type to the same label and direction would delete
             * each other's relationships */
            for (size_t q = 0; q < r; q++) {
                MappingRel *o = &e->rels[q];
                if (!rel->type || !o->type || strcmp(rel->type, o->type) != 0 || rel->incoming != o->incoming)
                    continue;
                const char *l1 = rel->to_entity ? rel->to_entity : rel->value_label;
                const char *l2 = o->to_entity ? o->to_entity : o->value_label;
                if (l1 && l2 && strcmp(l1, l2) == 0) {
                    mapping_diags_add(ld->diags, "%s:%d: entity \"%s\": relationship %s to %s is defined twice "
                                      "(line %d); use an array column or another type", ld->path, rel->line,
                                      e->name, rel->type, l1, o->line);
                    if (ld->nerr++ == 0)
                        snprintf(ld->first, sizeof(ld->first), "%s:%d: relationship %s defined twice",
                                 ld->path, rel->line, rel->type);
                }
            }
        }
    }
    free(names);
}

static void mapping_defaults(Mapping *m, Ld *ld)
{
    const char *v;
    m->conninfo = strdup((v = ld->env("DATABASE_URL", ld->env_ctx)) != NULL ? v : "");
    m->source_schema = strdup("public");
    m->neo4j_uri = strdup((v = ld->env("NEO4J_URI", ld->env_ctx)) != NULL && *v ? v : "bolt://localhost:7687");
    m->neo4j_user = strdup((v = ld->env("NEO4J_USER", ld->env_ctx)) != NULL && *v ? v : "neo4j");
    v = ld->env("NEO4J_PASSWORD", ld->env_ctx);
    m->neo4j_password = v ? strdup(v) : NULL;
    v = ld->env("NEO4J_DATABASE", ld->env_ctx);
    m->neo4j_database = strdup(v ? v : "");
    m->sync.sync_interval_ms = 300000;
    m->sync.batch_size_limit = 100;
    m->sync.sync_timeout_ms = 30000;
    m->sync.enable_auto_sync = true;
    m->sync.max_attempts = 3;
    m->sync.backoff_base_ms = 1000;
    m->sync.backoff_cap_ms = 60000;
    m->sync.conflict_scan_interval_ms = 60000;
    m->sync.conflict_scan_sample = 100;
    m->sync.audit_retention_days = 30;
    m->alerts = (MappingAlerts){100, 300000, 5, 3600000, 5000, 120000, 0, 3600000, 86400000, NULL, 5000};
}

static void load_root(Ld *ld, Mapping *m, const yaml_node_t *root)
{
    static const char *const keys[] = {"version", "source", "target", "sync", "alerts", "entities", "relationships"};
    if (root == NULL) {
        lerr(ld, NULL, "the mapping is empty");
        return;
    }
    if (!check_map(ld, root, "the mapping", keys, 7))
        return;
    yaml_node_t *v;
    if ((v = map_get(ld, root, "version")) != NULL) {
        int64_t ver = 0;
        if (parse_int(ld, v, "version", 1, INT32_MAX, &ver) && ver != 1)
            lerr(ld, v, "unsupported mapping version %lld (this pg2neo reads version 1)", (long long)ver);
    }
    if ((v = map_get(ld, root, "source")) != NULL)
        load_source(ld, m, v);
    if ((v = map_get(ld, root, "target")) != NULL)
        load_target(ld, m, v);
    if ((v = map_get(ld, root, "sync")) != NULL)
        load_sync(ld, m, v);
    if ((v = map_get(ld, root, "alerts")) != NULL)
        load_alerts(ld, m, v);
    yaml_node_t *ents = map_get(ld, root, "entities"), *links = map_get(ld, root, "relationships");
    size_t ne = 0, nl = 0;
    if (ents == NULL)
        lerr(ld, root, "the mapping has no entities");
    else if (ents->type != YAML_MAPPING_NODE)
        lerr(ld, ents, "entities must be a map of name: {table: ...}, not %s", node_kind(ents));
    else
        ne = (size_t)(ents->data.mapping.pairs.top - ents->data.mapping.pairs.start);
    if (links != NULL && links->type != YAML_MAPPING_NODE)
        lerr(ld, links, "relationships must be a map of name: {table: ...}, not %s", node_kind(links));
    else if (links != NULL)
        nl = (size_t)(links->data.mapping.pairs.top - links->data.mapping.pairs.start);
    if (ne + nl > MAPPING_MAX_ITEMS) {
        lerr(ld, root, "too many entities");
        return;
    }
    const yaml_node_t *secs[2] = {ents, links};
    for (int k = 0; k < 2; k++) {
        /* names are free-form: only duplicates are checked here */
        const yaml_node_t *sec = secs[k];
        if (sec == NULL || sec->type != YAML_MAPPING_NODE)
            continue;
        for (yaml_node_pair_t *p = sec->data.mapping.pairs.start; p < sec->data.mapping.pairs.top; p++) {
            const char *ks = key_text(node_get(ld, p->key));
            for (yaml_node_pair_t *q = sec->data.mapping.pairs.start; ks && q < p; q++) {
                const char *qs = key_text(node_get(ld, q->key));
                if (qs && strcmp(qs, ks) == 0) {
                    lerr(ld, node_get(ld, p->key), "duplicate key \"%s\" in %s", ks, k ? "relationships" : "entities");
                    break;
                }
            }
        }
    }
    if (ents && ents->type == YAML_MAPPING_NODE && ne == 0)
        lerr(ld, ents, "the mapping has no entities");
    m->entities = calloc(ne + nl ? ne + nl : 1, sizeof(*m->entities));
    if (m->entities == NULL)
        return;
    for (size_t i = 0; i < ne; i++) {
        yaml_node_pair_t *p = &ents->data.mapping.pairs.start[i];
        m->nentities++;
        load_entity(ld, &m->entities[i], node_get(ld, p->key), node_get(ld, p->value));
    }
    for (size_t i = 0; i < nl; i++) {
        yaml_node_pair_t *p = &links->data.mapping.pairs.start[i];
        m->nentities++;
        load_link(ld, &m->entities[ne + i], node_get(ld, p->key), node_get(ld, p->value));
    }
    check_refs(ld, m);
}

int mapping_load_string(const char *text, size_t len, const char *path, MappingEnvFn env, void *env_ctx,
                        Mapping **out, MappingDiags *diags, P2nErr *err)
{
    *out = NULL;
    Ld ld;
    memset(&ld, 0, sizeof(ld));
    ld.path = path ? path : "<string>";
    ld.env = env ? env : env_default;
    ld.env_ctx = env_ctx;
    ld.diags = diags ? diags : &ld.own;
    if (len > MAPPING_MAX_FILE_SIZE)
        return p2n_err_set(err, P2N_ECONFIG, "%s: mapping file is too large (%zu bytes)", ld.path, len);
    Mapping *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    m->path = strdup(ld.path);
    mapping_defaults(m, &ld);

    /* libyaml reports invalid UTF-8 at line 1 whatever the line: find the byte first (a UTF-16
       file, which libyaml also reads, starts with its byte order mark) */
    bool utf16 = len >= 2 && (((uint8_t)text[0] == 0xFF && (uint8_t)text[1] == 0xFE) ||
                              ((uint8_t)text[0] == 0xFE && (uint8_t)text[1] == 0xFF));
    size_t bad = utf16 ? SIZE_MAX : mapping_utf8_invalid_at(text, len);
    if (bad != SIZE_MAX) {
        int line = 1;
        size_t bol = 0;
        for (size_t i = 0; i < bad; i++) {
            if (text[i] == '\n' || (text[i] == '\r' && (i + 1 >= len || text[i + 1] != '\n'))) {
                line++;
                bol = i + 1;
            }
        }
        mapping_diags_add(ld.diags, "%s:%d: the file is not valid UTF-8 (byte 0x%02X at column %zu)", ld.path, line,
                          (unsigned)(uint8_t)text[bad], bad - bol + 1);
        p2n_err_set(err, P2N_ECONFIG, "%s:%d: the file is not valid UTF-8 (byte 0x%02X at column %zu)", ld.path,
                    line, (unsigned)(uint8_t)text[bad], bad - bol + 1);
        mapping_diags_free(&ld.own);
        mapping_free(m);
        return P2N_ECONFIG;
    }
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        mapping_free(m);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &ld.doc)) {
        int line = (int)(parser.problem_mark.line + 1);
        mapping_diags_add(ld.diags, "%s:%d: invalid YAML: %s%s%s", ld.path, line,
                          parser.problem ? parser.problem : "syntax error", parser.context ? " " : "",
                          parser.context ? parser.context : "");
        p2n_err_set(err, P2N_ECONFIG, "%s:%d: invalid YAML: %s", ld.path, line,
                    parser.problem ? parser.problem : "syntax error");
        yaml_parser_delete(&parser);
        mapping_diags_free(&ld.own);
        mapping_free(m);
        return P2N_ECONFIG;
    }
    load_root(&ld, m, yaml_document_get_root_node(&ld.doc));
    if (m->neo4j_password == NULL) {
        const char *pf = ld.env("NEO4J_PASSWORD_FILE", ld.env_ctx);
        char *secret = NULL;
        if (pf != NULL && pf[0] != '\0' && read_password_file(&ld, NULL, pf, &secret))
            m->neo4j_password = secret;
    }
    /* more than one document is a mistake (a stray "---") */
    yaml_document_t extra;
    if (ld.nerr == 0 && yaml_parser_load(&parser, &extra)) {
        if (yaml_document_get_root_node(&extra) != NULL) {
            mapping_diags_add(ld.diags, "%s:%d: the file holds more than one YAML document", ld.path,
                              (int)extra.start_mark.line + 1);
            snprintf(ld.first, sizeof(ld.first), "%s:%d: the file holds more than one YAML document",
                     ld.path, (int)extra.start_mark.line + 1);
            ld.nerr++;
        }
        yaml_document_delete(&extra);
    }
    yaml_document_delete(&ld.doc);
    yaml_parser_delete(&parser);
    if (ld.nerr == 0 && (m->conninfo == NULL || m->source_schema == NULL || m->neo4j_uri == NULL ||
                         m->neo4j_user == NULL || m->neo4j_database == NULL)) {
        mapping_diags_free(&ld.own);
        mapping_free(m);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    }
    if (ld.nerr > 0) {
        if (ld.nerr > 1)
            p2n_err_set(err, P2N_ECONFIG, "%s (and %zu more problems)", ld.first, ld.nerr - 1);
        else
            p2n_err_set(err, P2N_ECONFIG, "%s", ld.first);
        mapping_diags_free(&ld.own);
        mapping_free(m);
        return P2N_ECONFIG;
    }
    mapping_diags_free(&ld.own);
    if (m->neo4j_password && m->neo4j_password[0])
        p2n_log_add_secret(m->neo4j_password);
    *out = m;
    return 0;
}

int mapping_load_file(const char *path, MappingEnvFn env, void *env_ctx, Mapping **out, MappingDiags *diags,
                      P2nErr *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return p2n_err_set(err, P2N_ECONFIG, "could not open mapping file \"%s\": %s", path, strerror(errno));
    P2nBuf b;
    p2n_buf_init(&b);
    b.max = MAPPING_MAX_FILE_SIZE + 1;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        p2n_buf_append(&b, chunk, n);
    int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        p2n_buf_free(&b);
        return p2n_err_set(err, P2N_EIO, "could not read mapping file \"%s\"", path);
    }
    if (b.failed) {
        p2n_buf_free(&b);
        return p2n_err_set(err, P2N_ECONFIG, "mapping file \"%s\" is larger than %u bytes", path,
                           MAPPING_MAX_FILE_SIZE);
    }
    int rc = mapping_load_string(b.len ? (const char *)b.data : "", b.len, path, env, env_ctx, out, diags, err);
    p2n_buf_free(&b);
    return rc;
}

static void strs_free(MappingStr *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(a[i].s);
    free(a);
}

static void pairs_free(MappingPair *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(a[i].key);
        free(a[i].value);
    }
    free(a);
}

static void plan_free(MappingPlan *p)
{
    free(p->read_sql);
    for (size_t i = 0; i < p->nupsert; i++)
        free(p->upsert[i]);
    free(p->upsert);
    free(p->delete_cypher);
    for (size_t i = 0; i < p->nschema; i++)
        free(p->schema[i]);
    free(p->schema);
    memset(p, 0, sizeof(*p));
}

void mapping_free(Mapping *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nentities; i++) {
        MappingEntity *e = &m->entities[i];
        free(e->name);
        free(e->schema);
        free(e->table);
        strs_free(e->labels, e->nlabels);
        for (size_t r = 0; r < e->nrels; r++) {
            free(e->rels[r].type);
            free(e->rels[r].column);
            free(e->rels[r].to_entity);
            free(e->rels[r].value_label);
            free(e->rels[r].value_property);
        }
        free(e->rels);
        free(e->rel_type);
        free(e->from.entity);
        free(e->from.column);
        free(e->to.entity);
        free(e->to.column);
        strs_free(e->keys, e->nkeys);
        strs_free(e->include, e->ninclude);
        strs_free(e->exclude, e->nexclude);
        pairs_free(e->renames, e->nrenames);
        pairs_free(e->converts, e->nconverts);
        free(e->delete_when);
        for (size_t c = 0; c < e->ncols; c++) {
            free(e->cols[c].column);
            free(e->cols[c].property);
            free(e->cols[c].pg_type);
            free(e->cols[c].sql_type);
        }
        free(e->cols);
        free(e->key_cols);
        plan_free(&e->plan);
    }
    free(m->entities);
    free(m->path);
    free(m->conninfo);
    free(m->source_schema);
    free(m->neo4j_uri);
    free(m->neo4j_user);
    if (m->neo4j_password) {
        memset(m->neo4j_password, 0, strlen(m->neo4j_password));
        free(m->neo4j_password);
    }
    free(m->neo4j_database);
    free(m->alerts.webhook_url);
    free(m->sync.schema);
    free(m);
}

const char *mapping_sync_schema(const Mapping *m)
{
    const char *e = getenv("P2N_SYNC_SCHEMA");
    if (e && *e)
        return e;
    if (m && m->sync.schema && *m->sync.schema)
        return m->sync.schema;
    return "public";
}
