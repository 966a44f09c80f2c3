/* Log lines in logfmt or JSON, with secret masking. Thread-safe: one lock around each line. */
#include "common/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/buf.h"

#define MAX_SECRETS 16

static P2nLogLevel g_level = P2N_LOG_INFO;
static P2nLogFormat g_format = P2N_LOG_LOGFMT;
static char *g_secrets[MAX_SECRETS];
static int g_nsecrets;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

void p2n_log_set_level(P2nLogLevel level) { g_level = level; }
void p2n_log_set_format(P2nLogFormat fmt) { g_format = fmt; }
P2nLogLevel p2n_log_get_level(void) { return g_level; }
bool p2n_log_enabled(P2nLogLevel level) { return level >= g_level && level < P2N_LOG_OFF; }

static const char *level_names[] = {"debug", "info", "warn", "error", "off"};

int p2n_log_parse_level(const char *s)
{
    for (int i = 0; i <= P2N_LOG_OFF; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    if (strcmp(s, "warning") == 0)
        return P2N_LOG_WARN;
    return -1;
}

int p2n_log_parse_format(const char *s)
{
    if (strcmp(s, "logfmt") == 0)
        return P2N_LOG_LOGFMT;
    if (strcmp(s, "json") == 0)
        return P2N_LOG_JSON;
    return -1;
}

void p2n_log_add_secret(const char *secret)
{
    if (secret == NULL || strlen(secret) < 4)
        return;
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < g_nsecrets; i++)
        if (strcmp(g_secrets[i], secret) == 0)
            goto out;
    if (g_nsecrets < MAX_SECRETS) {
        char *dup = strdup(secret);
        if (dup != NULL)
            g_secrets[g_nsecrets++] = dup;
    }
out:
    pthread_mutex_unlock(&g_lock);
}

void p2n_log_clear_secrets(void)
{
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < g_nsecrets; i++)
        free(g_secrets[i]);
    g_nsecrets = 0;
    pthread_mutex_unlock(&g_lock);
}

static void redact_locked(char *s)
{
    for (int i = 0; i < g_nsecrets; i++) {
        size_t n = strlen(g_secrets[i]);
        char *p = s;
        while ((p = strstr(p, g_secrets[i])) != NULL) {
            memset(p, '*', n);
            p += n;
        }
    }
}

/* Replaces s[from, to) with "***" (or as many '*' when shorter: never longer), in place. */
static size_t mask_span(char *s, size_t from, size_t to)
{
    size_t n = to - from;
    if (n < 3) {
        memset(s + from, '*', n);
        return to;
    }
    memcpy(s + from, "***", 3);
    memmove(s + from + 3, s + to, strlen(s + to) + 1);
    return from + 3;
}

static bool cred_end(char c)
{
    return c == '\0' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '"' || c == '\'' || c == '\\' ||
           c == '<' || c == '>';
}

void p2n_log_mask_credentials(char *s)
{
    if (s == NULL)
        return;
    /* scheme://user:password@host: from the first ':' of the userinfo to the last '@' before the
       URL ends (a password holding '@' or '/' unencoded is still covered) */
    for (char *p = strstr(s, "://"); p != NULL; p = strstr(p, "://")) {
        p += 3;
        size_t end = 0;
        while (!cred_end(p[end]))
            end++;
        size_t at = end;
        while (at > 0 && p[at - 1] != '@')
            at--;
        if (at == 0)
            continue;
        at--; /* the '@' */
        char *colon = memchr(p, ':', at);
        if (colon == NULL || colon + 1 == p + at)
            continue;
        size_t from = (size_t)(colon + 1 - s);
        p = s + mask_span(s, from, (size_t)(p + at - s));
    }
    /* password=value (a conninfo keyword, a URL's ?password=, PGPASSWORD=...), quoted or not */
    for (size_t i = 0; s[i] != '\0'; i++) {
        if (strncasecmp(s + i, "password", 8) != 0)
            continue;
        size_t j = i + 8;
        while (s[j] == ' ')
            j++;
        if (s[j] != '=')
            continue;
        j++;
        while (s[j] == ' ')
            j++;
        size_t from = j, to = j;
        if (s[j] == '\'') {
            to = j + 1;
            while (s[to] != '\0' && s[to] != '\'') {
                if (s[to] == '\\' && s[to + 1] != '\0')
                    to++;
                to++;
            }
            if (s[to] == '\'')
                to++;
        } else {
            while (!cred_end(s[to]) && s[to] != '&')
                to++;
        }
        if (to > from)
            i = mask_span(s, from, to) - 1;
    }
}

void p2n_log_redact(char *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&g_lock);
    redact_locked(s);
    pthread_mutex_unlock(&g_lock);
    p2n_log_mask_credentials(s);
}

static void append_json_string(P2nBuf *b, const char *s, size_t n)
{
    p2n_buf_append_byte(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            p2n_buf_append_byte(b, '\\');
            p2n_buf_append_byte(b, c);
        } else if (c < 0x20) {
            p2n_buf_printf(b, "\\u%04x", c);
        } else {
            p2n_buf_append_byte(b, c);
        }
    }
    p2n_buf_append_byte(b, '"');
}

static void append_logfmt_value(P2nBuf *b, const char *s)
{
    bool quote = *s == '\0' || strpbrk(s, " \"=\t\n\\") != NULL;
    if (!quote) {
        p2n_buf_append_str(b, s);
        return;
    }
    append_json_string(b, s, strlen(s)); /* logfmt quoting is JSON-compatible */
}

/* True when s (after spaces) starts a logfmt key: [A-Za-z_][A-Za-z0-9_.-]* followed by '='. */
static bool starts_key(const char *s)
{
    while (*s == ' ')
        s++;
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return false;
    while ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
           *s == '.' || *s == '-')
        s++;
    return *s == '=';
}

/*
 * Reads the next field of a logfmt string: its key (*k, *klen), whether it has a value, and the
 * value, unquoted and unescaped, into v. A quoted value ends at a quote followed by the end or by
 * another "key=": a value that holds unescaped quotes (an error message that quotes a name, put
 * in error=\"%s\") stays one value. Returns the position after the field, NULL at the end.
 */
static const char *field_next(const char *f, const char **k, size_t *klen, bool *has_value, P2nBuf *v)
{
    while (*f == ' ')
        f++;
    if (*f == '\0')
        return NULL;
    *k = f;
    while (*f && *f != '=' && *f != ' ')
        f++;
    *klen = (size_t)(f - *k);
    *has_value = *f == '=';
    if (!*has_value)
        return f;
    f++;
    if (*f == '"') {
        f++;
        for (; *f; f++) {
            if (*f == '\\' && (f[1] == '"' || f[1] == '\\')) {
                p2n_buf_append_byte(v, (uint8_t)*++f);
                continue;
            }
            if (*f == '"' && (f[1] == '\0' || (f[1] == ' ' && starts_key(f + 1)))) {
                f++;
                break;
            }
            p2n_buf_append_byte(v, (uint8_t)*f);
        }
    } else {
        while (*f && *f != ' ')
            p2n_buf_append_byte(v, (uint8_t)*f++);
    }
    return f;
}

/* Re-emits logfmt fields as JSON members (",\"k\":\"v\"...") or as clean logfmt (" k=v ..."). */
static void fields_emit(P2nBuf *b, const char *f, bool json)
{
    const char *k;
    size_t klen;
    bool has_value;
    P2nBuf v;
    p2n_buf_init(&v);
    while ((f = field_next(f, &k, &klen, &has_value, &v)) != NULL) {
        const char *val = v.data ? (const char *)v.data : "";
        if (json) {
            p2n_buf_append_byte(b, ',');
            append_json_string(b, k, klen);
            p2n_buf_append_byte(b, ':');
            if (has_value)
                append_json_string(b, val, v.len);
            else
                p2n_buf_append_str(b, "true");
        } else {
            p2n_buf_append_byte(b, ' ');
            p2n_buf_append(b, k, klen);
            if (has_value) {
                p2n_buf_append_byte(b, '=');
                append_logfmt_value(b, val);
            }
        }
        v.len = 0;
        if (v.data)
            v.data[0] = '\0';
    }
    p2n_buf_free(&v);
}

void p2n_log(P2nLogLevel level, const char *msg, const char *fields_fmt, ...)
{
    if (!p2n_log_enabled(level))
        return;
    char fields[4096] = "";
    if (fields_fmt != NULL && fields_fmt[0] != '\0') {
        va_list ap;
        va_start(ap, fields_fmt);
        vsnprintf(fields, sizeof(fields), fields_fmt, ap);
        va_end(ap);
    }
    /* mask secrets before the fields are re-quoted (escaping could split a secret), and again at the end */
    char text[1024];
    snprintf(text, sizeof(text), "%s", msg ? msg : "");
    pthread_mutex_lock(&g_lock);
    redact_locked(fields);
    redact_locked(text);
    pthread_mutex_unlock(&g_lock);
    p2n_log_mask_credentials(fields);
    p2n_log_mask_credentials(text);
    msg = text;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);

    P2nBuf b;
    p2n_buf_init(&b);
    if (g_format == P2N_LOG_JSON) {
        p2n_buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":", when, level_names[level]);
        append_json_string(&b, msg, strlen(msg));
        fields_emit(&b, fields, true);
        p2n_buf_append_str(&b, "}\n");
    } else {
        p2n_buf_printf(&b, "ts=%s level=%s msg=", when, level_names[level]);
        append_logfmt_value(&b, msg);
        fields_emit(&b, fields, false);
        p2n_buf_append_byte(&b, '\n');
    }
    if (!b.failed && b.data != NULL) {
        p2n_log_mask_credentials((char *)b.data);
        pthread_mutex_lock(&g_lock);
        redact_locked((char *)b.data);
        fwrite(b.data, 1, strlen((char *)b.data), stderr);
        fflush(stderr);
        pthread_mutex_unlock(&g_lock);
    }
    p2n_buf_free(&b);
}

P2nLogFormat p2n_log_get_format(void) { return g_format; }

void p2n_log_pg_notice(void *arg, const char *message)
{
    (void)arg;
    char text[1024];
    snprintf(text, sizeof(text), "%s", message ? message : "");
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
        text[--n] = '\0';
    for (char *c = text; *c; c++) /* one line, quoted once */
        if (*c == '"' || *c == '\\')
            *c = '\'';
        else if ((unsigned char)*c < 0x20)
            *c = ' ';
    P2nLogLevel lvl = strncmp(text, "WARNING:", 8) == 0 ? P2N_LOG_WARN : P2N_LOG_INFO;
    p2n_log(lvl, "postgresql notice", "detail=\"%s\"", text);
}
