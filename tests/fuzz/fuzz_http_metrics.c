/*
 * Fuzz target: the Prometheus text rendering of src/common/metrics with hostile label values and
 * help text. The input is split at 0x00/0x01 bytes into a help text and label values; they are
 * set on a two-label gauge and observed into a labelled histogram. The rendered text is parsed
 * back with a strict reader of format 0.0.4: every line must be a comment or a sample, each
 * label value must unescape to exactly what was set, and histogram buckets must be cumulative.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXV 8

/* Reads a quoted label value at *p (after the opening quote), unescaping; NULL when malformed. */
static char *read_value(const char **p)
{
    size_t cap = strlen(*p) + 1, n = 0;
    char *out = malloc(cap);
    const char *s = *p;
    while (*s && *s != '"') {
        if (*s == '\n')
            goto bad; /* a raw line feed inside a value breaks the format */
        if (*s == '\\') {
            s++;
            if (*s == 'n')
                out[n++] = '\n';
            else if (*s == '\\' || *s == '"')
                out[n++] = *s;
            else
                goto bad;
            s++;
            continue;
        }
        out[n++] = *s++;
    }
    if (*s != '"')
        goto bad;
    out[n] = '\0';
    *p = s + 1;
    return out;
bad:
    free(out);
    return NULL;
}

static bool starts(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *vals[MAXV + 1];
    size_t nv = 0;
    size_t start = 0;
    for (size_t i = 0; i <= size && nv <= MAXV; i++) {
        if (i == size || data[i] == 0 || data[i] == 1) {
            vals[nv] = malloc(i - start + 1);
            memcpy(vals[nv], data + start, i - start);
            vals[nv][i - start] = '\0';
            nv++;
            start = i + 1;
        }
    }
    P2nMetrics *r = p2n_metrics_new();
    P2nMetric *g = NULL, *h = NULL;
    const double b[] = {0.5, 1, 2};
    if (p2n_metrics_register(r, P2N_METRIC_GAUGE, "pg2neo_fuzz", vals[0], "a,b", NULL, 0, &g, NULL) != 0 ||
        p2n_metrics_register(r, P2N_METRIC_HISTOGRAM, "pg2neo_fuzz_h", "h", "t", b, 3, &h, NULL) != 0)
        abort();
    for (size_t i = 1; i < nv; i++) {
        const char *lv[2] = {vals[i], vals[(i + 1) % nv]};
        if (p2n_metric_set(g, lv, (double)i) != 0)
            abort();
        double v = (double)(vals[i][0] ? (unsigned char)vals[i][0] : 0) / 64.0;
        if (p2n_metric_observe1(h, vals[i], v) != 0)
            abort();
    }
    P2nBuf out;
    p2n_buf_init(&out);
    if (p2n_metrics_render(r, &out) != 0)
        abort();
    /* parse back */
    const char *text = out.data ? (const char *)out.data : "";
    const char *line = text;
    uint64_t last_bucket = 0;
    while (*line) {
        const char *end = strchr(line, '\n');
        if (end == NULL)
            abort(); /* every line ends with a line feed */
        if (*line == '#') {
            if (!starts(line, "# HELP pg2neo_fuzz") && !starts(line, "# TYPE pg2neo_fuzz"))
                abort();
        } else if (starts(line, "pg2neo_fuzz{a=\"")) {
            const char *p = line + strlen("pg2neo_fuzz{a=\"");
            char *a = read_value(&p);
            if (a == NULL || !starts(p, ",b=\""))
                abort();
            p += 4;
            char *bv = read_value(&p);
            if (bv == NULL || *p != '}')
                abort();
            long idx = strtol(p + 2, NULL, 10);
            if (idx < 1 || (size_t)idx >= nv)
                abort();
            /* the series for index idx was set last with these values, unless a later index had
               the same pair; its value then is that later index, so compare the pair */
            if (strcmp(a, vals[idx]) != 0 || strcmp(bv, vals[(size_t)(idx + 1) % nv]) != 0)
                abort();
            free(a);
            free(bv);
        } else if (starts(line, "pg2neo_fuzz_h_bucket{t=\"")) {
            const char *p = line + strlen("pg2neo_fuzz_h_bucket{t=\"");
            char *t = read_value(&p);
            if (t == NULL || !starts(p, ",le=\""))
                abort();
            bool first = starts(p, ",le=\"0.5\"}");
            const char *sp = strchr(p, ' ');
            if (sp == NULL)
                abort();
            uint64_t c = strtoull(sp + 1, NULL, 10);
            if (!first && c < last_bucket)
                abort(); /* buckets are cumulative */
            last_bucket = c;
            free(t);
        } else if (starts(line, "pg2neo_fuzz_h_sum{t=\"") || starts(line, "pg2neo_fuzz_h_count{t=\"")) {
            const char *p = strchr(line, '"') + 1;
            char *t = read_value(&p);
            if (t == NULL || *p != '}')
                abort();
            free(t);
        } else {
            abort();
        }
        line = end + 1;
    }
    p2n_buf_free(&out);
    p2n_metrics_free(r);
    for (size_t i = 0; i < nv; i++)
        free(vals[i]);
    return 0;
}
