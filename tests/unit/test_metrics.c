/* Unit tests for src/common/metrics: exact Prometheus text, escaping, histograms, concurrency. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/metrics.h"

static char *render(P2nMetrics *r)
{
    P2nBuf b;
    p2n_buf_init(&b);
    assert_int_equal(p2n_metrics_render(r, &b), 0);
    char *s = p2n_buf_steal(&b);
    assert_non_null(s);
    return s;
}

static void test_render_exact(void **state)
{
    (void)state;
    P2nMetrics *r = p2n_metrics_new();
    P2nMetric *c, *g, *e;
    assert_int_equal(p2n_metrics_register(r, P2N_METRIC_COUNTER, "pg2neo_batches_total", "Batches run",
                                          "status", NULL, 0, &c, NULL), 0);
    assert_int_equal(p2n_metrics_register(r, P2N_METRIC_GAUGE, "pg2neo_neo4j_up", "1 when up", NULL, NULL, 0, &g,
                                          NULL), 0);
    assert_int_equal(p2n_metrics_register(r, P2N_METRIC_GAUGE, "pg2neo_entities", "Entities", "entity_type,status",
                                          NULL, 0, &e, NULL), 0);
    assert_int_equal(p2n_metric_add1(c, "completed", 1), 0);
    assert_int_equal(p2n_metric_add1(c, "failed", 2), 0);
    assert_int_equal(p2n_metric_add1(c, "completed", 2), 0);
    assert_int_equal(p2n_metric_set1(g, NULL, 1), 0);
    const char *lv[] = {"bill", "pending"};
    assert_int_equal(p2n_metric_set(e, lv, 12.5), 0);
    char *s = render(r);
    const char *want = "# HELP pg2neo_batches_total Batches run\n"
                       "# TYPE pg2neo_batches_total counter\n"
                       "pg2neo_batches_total{status=\"completed\"} 3\n"
                       "pg2neo_batches_total{status=\"failed\"} 2\n"
                       "# HELP pg2neo_neo4j_up 1 when up\n"
                       "# TYPE pg2neo_neo4j_up gauge\n"
                       "pg2neo_neo4j_up 1\n"
                       "# HELP pg2neo_entities Entities\n"
                       "# TYPE pg2neo_entities gauge\n"
                       "pg2neo_entities{entity_type=\"bill\",status=\"pending\"} 12.5\n";
    assert_string_equal(s, want);
    free(s);

    /* clear: labelled families lose their series, unlabelled ones go back to 0 */
    p2n_metric_clear(e);
    p2n_metric_clear(g);
    s = render(r);
    assert_null(strstr(s, "pg2neo_entities{"));
    assert_non_null(strstr(s, "# TYPE pg2neo_entities gauge\n"));
    assert_non_null(strstr(s, "\npg2neo_neo4j_up 0\n"));
    free(s);
    p2n_metrics_free(r);
}

static void test_label_escaping(void **state)
{
    (void)state;
    P2nMetrics *r = p2n_metrics_new();
    P2nMetric *g;
    assert_int_equal(p2n_metrics_register(r, P2N_METRIC_GAUGE, "pg2neo_x", "help with \\ and\nnewline",
                                          "entity_type", NULL, 0, &g, NULL), 0);
    assert_int_equal(p2n_metric_set1(g, "a\"b\\c\nd", 7), 0);
    char *s = render(r);
    assert_string_equal(s, "# HELP pg2neo_x help with \\\\ and\\nnewline\n"
                           "# TYPE pg2neo_x gauge\n"
                           "pg2neo_x{entity_type=\"a\\\"b\\\\c\\nd\"} 7\n");
    free(s);
    p2n_metrics_free(r);
}

static void test_histogram(void **state)
{
    (void)state;
    P2nMetrics *r = p2n_metrics_new();
    P2nMetric *h;
    const double b[] = {0.25, 1, 5};
    assert_int_equal(p2n_metrics_register(r, P2N_METRIC_HISTOGRAM, "pg2neo_sync_latency_seconds", "Latency",
                                          "entity_type", b, 3, &h, NULL), 0);
    assert_int_equal(p2n_metric_observe1(h, "bill", 0.125), 0);
    assert_int_equal(p2n_metric_observe1(h, "bill", 0.25), 0); /* le is inclusive */
    assert_int_equal(p2n_metric_observe1(h, "bill", 3), 0);
    assert_int_equal(p2n_metric_observe1(h, "bill", 7.25), 0);
    char *s = render(r);
    assert_string_equal(s, "# HELP pg2neo_sync_latency_seconds Latency\n"
                           "# TYPE pg2neo_sync_latency_seconds histogram\n"
                           "pg2neo_sync_latency_seconds_bucket{entity_type=\"bill\",le=\"0.25\"} 2\n"
                           "pg2neo_sync_latency_seconds_bucket{entity_type=\"bill\",le=\"1\"} 2\n"
                           "pg2neo_sync_latency_seconds_bucket{entity_type=\"bill\",le=\"5\"} 3\n"
                           "pg2neo_sync_latency_seconds_bucket{entity_type=\"bill\",le=\"+Inf\"} 4\n"
                           "pg2neo_sync_latency_seconds_sum{entity_type=\"bill\"} 10.625\n"
                           "pg2neo_sync_latency_seconds_count{entity_type=\"bill\"} 4\n");
    free(s);
    double sum = 0, count = 0;
    const char *lv[] = {"bill"};
    assert_int_equal(p2n_metric_get(h, lv, &sum, &count), 0);
    assert_true(sum == 10.625);
    assert_true(count == 4);
    const char *other[] = {"vote"};
    assert_int_equal(p2n_metric_get(h, other, &sum, &count), P2N_ENOTFOUND);

    /* unlabelled histogram renders its empty series from the start */
    P2nMetric *h2;
    assert_int_equal(p2n_metrics_register(r, P2N_METRIC_HISTOGRAM, "pg2neo_batch_duration_seconds", "Duration",
                                          NULL, b, 3, &h2, NULL), 0);
    s = render(r);
    assert_non_null(strstr(s, "\npg2neo_batch_duration_seconds_bucket{le=\"+Inf\"} 0\n"
                              "pg2neo_batch_duration_seconds_sum 0\n"
                              "pg2neo_batch_duration_seconds_count 0\n"));
    free(s);
    p2n_metrics_free(r);
}

static void test_rejects_misuse(void **state)
{
    (void)state;
    P2nMetrics *r = p2n_metrics_new();
    P2nMetric *m = NULL;
    P2nErr err;
    p2n_err_clear(&err);
    assert_int_equal(p2n_metrics_register(r, P2N_METRIC_GAUGE, "other_metric", "", NULL, NULL, 0, &m, &err),
                     P2N_EINVAL);
    assert_non_null(strstr(err.msg, "invalid metric name"));
    assert_int_equal(p2n_metrics_register(r, P2N_METRIC_GAUGE, "pg2neo_bad-name", "", NULL, NULL, 0, &m, NULL),
                     P2N_EINVAL);
    assert_int_equal(p2n_metrics_register(r, P2N_METRIC_GAUGE, "pg2neo_x", "", "a,,b", NULL, 0, &m, NULL),
                     P2N_EINVAL);
    assert_int_equal(p2n_metrics_register(r, P2N_METRIC_GAUGE, "pg2neo_x", "", "__a", NULL, 0, &m, NULL),
                     P2N_EINVAL);
    assert_int_equal(p2n_metrics_register(r, P2N_METRIC_GAUGE, "pg2neo_x", "", "a,a", NULL, 0, &m, NULL),
                     P2N_EINVAL);
    const double unsorted[] = {1, 0.5};
    assert_int_equal(p2n_metrics_register(r, P2N_METRIC_HISTOGRAM, "pg2neo_h", "", NULL, unsorted, 2, &m, NULL),
                     P2N_EINVAL);
    const double ok[] = {1};
    assert_int_equal(p2n_metrics_register(r, P2N_METRIC_HISTOGRAM, "pg2neo_h", "", "le", ok, 1, &m, NULL),
                     P2N_EINVAL);
    assert_int_equal(p2n_metrics_register(r, P2N_METRIC_COUNTER, "pg2neo_c_total", "", "t", NULL, 0, &m, NULL), 0);
    assert_int_equal(p2n_metrics_register(r, P2N_METRIC_COUNTER, "pg2neo_c_total", "", "t", NULL, 0, NULL, NULL),
                     P2N_EINVAL); /* duplicate */
    assert_ptr_equal(p2n_metrics_find(r, "pg2neo_c_total"), m);
    assert_null(p2n_metrics_find(r, "pg2neo_nope"));
    assert_int_equal(p2n_metric_add1(m, "x", -1), P2N_EINVAL);     /* counters only go up */
    assert_int_equal(p2n_metric_add1(m, "x", (double)NAN), P2N_EINVAL);
    assert_int_equal(p2n_metric_set1(m, "x", 1), P2N_EINVAL);      /* set is for gauges */
    assert_int_equal(p2n_metric_observe1(m, "x", 1), P2N_EINVAL);  /* observe is for histograms */
    assert_int_equal(p2n_metric_add1(m, NULL, 1), P2N_EINVAL);     /* label value missing */
    const char *nullv[] = {NULL};
    assert_int_equal(p2n_metric_add(m, nullv, 1), P2N_EINVAL);
    /* cardinality cap */
    char lab[32];
    int rc = 0;
    for (int i = 0; i <= P2N_METRIC_MAX_SERIES && rc == 0; i++) {
        snprintf(lab, sizeof(lab), "v%d", i);
        rc = p2n_metric_add1(m, lab, 1);
    }
    assert_int_equal(rc, P2N_ETOOBIG);
    p2n_metrics_free(r);
}

static void test_format_value(void **state)
{
    (void)state;
    char b[40];
    assert_string_equal(p2n_metric_format_value(0.1, b, sizeof(b)), "0.1");
    assert_string_equal(p2n_metric_format_value(3, b, sizeof(b)), "3");
    assert_string_equal(p2n_metric_format_value(1e21, b, sizeof(b)), "1e+21");
    assert_string_equal(p2n_metric_format_value((double)INFINITY, b, sizeof(b)), "+Inf");
    assert_string_equal(p2n_metric_format_value(-(double)INFINITY, b, sizeof(b)), "-Inf");
    assert_string_equal(p2n_metric_format_value((double)NAN, b, sizeof(b)), "NaN");
    assert_true(strtod(p2n_metric_format_value(1.0 / 3.0, b, sizeof(b)), NULL) == 1.0 / 3.0);
}

typedef struct {
    P2nMetric *c;
    P2nMetric *h;
} Pair;

static void *hammer(void *arg)
{
    Pair *p = arg;
    for (int i = 0; i < 20000; i++) {
        p2n_metric_add1(p->c, (i & 1) ? "a" : "b", 1);
        p2n_metric_observe1(p->h, NULL, 0.5);
    }
    return NULL;
}

static void test_concurrent_updates(void **state)
{
    (void)state;
    P2nMetrics *r = p2n_metrics_new();
    Pair p;
    const double b[] = {1};
    assert_int_equal(p2n_metrics_register(r, P2N_METRIC_COUNTER, "pg2neo_n_total", "", "k", NULL, 0, &p.c, NULL), 0);
    assert_int_equal(p2n_metrics_register(r, P2N_METRIC_HISTOGRAM, "pg2neo_d", "", NULL, b, 1, &p.h, NULL), 0);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer, &p);
    for (int i = 0; i < 20; i++)
        free(render(r)); /* renders race with updates */
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    double v = 0, n = 0;
    const char *a[] = {"a"};
    assert_int_equal(p2n_metric_get(p.c, a, &v, NULL), 0);
    assert_true(v == 40000);
    assert_int_equal(p2n_metric_get(p.h, NULL, &v, &n), 0);
    assert_true(n == 80000);
    assert_true(v == 40000);
    p2n_metrics_free(r);
}

static void test_std_set(void **state)
{
    (void)state;
    P2nMetrics *r = p2n_metrics_new();
    P2nStdMetrics m;
    assert_int_equal(p2n_metrics_register_std(r, &m, NULL), 0);
    assert_non_null(m.sync_latency);
    assert_int_equal(p2n_metric_observe1(m.sync_latency, "bill", 0.2), 0);
    assert_int_equal(p2n_metric_observe1(m.batch_duration, NULL, 1.5), 0);
    char *s = render(r);
    assert_non_null(strstr(s, "# TYPE pg2neo_sync_latency_seconds histogram\n"));
    assert_non_null(strstr(s, "pg2neo_sync_latency_seconds_bucket{entity_type=\"bill\",le=\"3600\"} 1\n"));
    assert_non_null(strstr(s, "pg2neo_batch_duration_seconds_bucket{le=\"2.5\"} 1\n"));
    assert_non_null(strstr(s, "pg2neo_build_info{version=\""));
    /* every sample line starts with the prefix */
    for (char *line = s; *line; line = strchr(line, '\n') + 1) {
        if (*line != '#')
            assert_int_equal(strncmp(line, "pg2neo_", 7), 0);
    }
    free(s);
    p2n_metrics_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_exact),     cmocka_unit_test(test_label_escaping),
        cmocka_unit_test(test_histogram),        cmocka_unit_test(test_rejects_misuse),
        cmocka_unit_test(test_format_value),     cmocka_unit_test(test_concurrent_updates),
        cmocka_unit_test(test_std_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
