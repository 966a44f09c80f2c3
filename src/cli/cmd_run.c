/*
 * pg2neo run: the sync daemon. Runs batches while there is work, wakes on new changes (the
 * capture's wake-up poll, syncIntervalMs as a fallback), reconnects with backoff after any fault
 * and never exits on one, serves the HTTP status API / metrics / dashboard, and on SIGTERM or
 * SIGINT finishes the batch in hand, releases its claims and exits 0.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/sdnotify.h"
#include "common/backoff.h"
#include "common/log.h"
#include "pg2neo.h"
#include "sync/daemon.h"

#define RUN_DEFAULT_HTTP "127.0.0.1:8687"
#define RUN_TOKEN_MAX 8192
#define RUN_TOKEN_MAX_TEXT "8192"

static volatile sig_atomic_t g_stop;

/* A fatal error: in JSON log mode a JSON log line (every line the daemon writes is then JSON),
   else the CLI's "pg2neo: message" line. */
static void run_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void run_errorf(const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (p2n_log_get_format() == P2N_LOG_JSON)
        p2n_log(P2N_LOG_ERROR, msg, NULL);
    else
        cli_errorf("%s", msg);
}

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void run_help(void)
{
    printf("usage: pg2neo run [--config MAPPING] [--http ADDR:PORT|off] [--http-token-file FILE]\n\n"
           "Runs the sync daemon until SIGTERM or SIGINT (then it finishes the batch in hand, releases\n"
           "its claims and exits 0). Several daemons may share one queue. The mapping is --config, else\n"
           "$P2N_MAPPING, else mapping.yaml; its sync section sets the batch size, the timeout, the\n"
           "interval and enableAutoSync.\n\n"
           "  --http ADDR:PORT       the status API, /metrics and the dashboard (default %s;\n"
           "                         if the default port is taken the daemon runs without it; \"off\")\n"
           "  --http-token-file F    require \"Authorization: Bearer <first line of F>\" (up to 8192\n"
           "                         bytes; the daemon does not start when F cannot be read or\n"
           "                         its first line is empty)\n\n"
           "Core dumps are disabled (they would hold the passwords) unless P2N_ALLOW_CORE=1.\n",
           RUN_DEFAULT_HTTP);
}

/* "addr:port", "[v6]:port" or ":port" */
static int split_addr(const char *s, char *addr, size_t size, unsigned *port)
{
    const char *colon = strrchr(s, ':');
    if (colon == NULL)
        return -1;
    size_t n = (size_t)(colon - s);
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
        s++;
        n -= 2;
    }
    if (n >= size)
        return -1;
    memcpy(addr, s, n);
    addr[n] = '\0';
    if (n == 0)
        snprintf(addr, size, "127.0.0.1");
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || p < 0 || p > 65535)
        return -1;
    *port = (unsigned)p;
    return 0;
}

/* Reads the bearer token: the first line of path, surrounding blanks removed, whole (up to
   RUN_TOKEN_MAX bytes). NULL with why filled when the file cannot be read, is a directory, or
   holds no token: the daemon must then not start (an empty token would mean no authentication). */
static char *read_token(const char *path, char *why, size_t size)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(why, size, "could not open token file \"%s\": %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        snprintf(why, size, "token file \"%s\" is a directory", path);
        return NULL;
    }
    char *buf = malloc(RUN_TOKEN_MAX + 2);
    if (buf == NULL) {
        fclose(f);
        snprintf(why, size, "out of memory");
        return NULL;
    }
    size_t n = fread(buf, 1, RUN_TOKEN_MAX + 1, f);
    int rerr = ferror(f) ? errno : 0;
    fclose(f);
    buf[n] = '\0';
    if (rerr != 0) {
        snprintf(why, size, "could not read token file \"%s\": %s", path, strerror(rerr));
        free(buf);
        return NULL;
    }
    buf[strcspn(buf, "\r\n")] = '\0';
    char *tok = buf + strspn(buf, " \t");
    size_t len = strlen(tok);
    while (len > 0 && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
        tok[--len] = '\0';
    const char *problem = NULL;
    if (len == 0)
        problem = "holds no token (its first line is empty or blank)";
    else if (len > RUN_TOKEN_MAX)
        problem = "holds a token longer than " RUN_TOKEN_MAX_TEXT " bytes";
    for (size_t i = 0; problem == NULL && i < len; i++)
        if ((unsigned char)tok[i] < 0x20 || tok[i] == 0x7f)
            problem = "holds a token with control characters (an HTTP header cannot carry them)";
    if (problem != NULL) {
        snprintf(why, size, "token file \"%s\" %s", path, problem);
        memset(buf, 0, RUN_TOKEN_MAX + 2);
        free(buf);
        return NULL;
    }
    char *out = strdup(tok);
    memset(buf, 0, RUN_TOKEN_MAX + 2);
    free(buf);
    if (out == NULL)
        snprintf(why, size, "out of memory");
    return out;
}

/* Core dumps would hold both passwords (and the token): none, unless P2N_ALLOW_CORE=1. */
static void run_no_core_dumps(void)
{
    const char *allow = getenv("P2N_ALLOW_CORE");
    if (allow != NULL && strcmp(allow, "1") == 0)
        return;
    struct rlimit rl = {0, 0};
    if (setrlimit(RLIMIT_CORE, &rl) != 0)
        P2N_WARN("could not disable core dumps", "error=\"%s\"", strerror(errno));
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        P2N_WARN("could not mark the process non-dumpable", "error=\"%s\"", strerror(errno));
}

static int run_run(int argc, char **argv)
{
    const char *path = NULL, *http = NULL, *token_file = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((strcmp(a, "--config") == 0 || strcmp(a, "--http") == 0 || strcmp(a, "--http-token-file") == 0) &&
            i + 1 < argc) {
            const char *v = argv[++i];
            if (a[2] == 'c')
                path = v;
            else if (strcmp(a, "--http") == 0)
                http = v;
            else
                token_file = v;
        } else {
            run_errorf("unknown option \"%s\" for run", a);
            return CLI_USAGE;
        }
    }
    if (path == NULL)
        path = getenv("P2N_MAPPING") && *getenv("P2N_MAPPING") ? getenv("P2N_MAPPING") : "mapping.yaml";
    char addr[256];
    unsigned port = 0;
    int http_default = http == NULL;
    int http_on = http == NULL || strcmp(http, "off") != 0;
    if (http_on && split_addr(http ? http : RUN_DEFAULT_HTTP, addr, sizeof(addr), &port) < 0) {
        run_errorf("invalid value \"%s\" for --http: ADDR:PORT is needed", http);
        return CLI_USAGE;
    }
    char *token = NULL;
    if (token_file) {
        char why[1024];
        token = read_token(token_file, why, sizeof(why));
        if (token == NULL) {
            run_errorf("%s: the daemon does not start without the token it was asked to require", why);
            return CLI_USAGE;
        }
        p2n_log_add_secret(token);
    }
    run_no_core_dumps();

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    char msg[2048];
    P2nService *s = NULL;
    int rc = p2n_service_open(path, &s, msg, sizeof(msg));
    /* PostgreSQL not there yet (the daemon started first): wait for it, as after any fault; a
       wrong password waits much longer (30 s .. 5 min, as the daemon loop does), so that the
       retries do not lock the account; a configuration error ends the process */
    SyncDaemonConfig dc;
    sync_daemon_config_default(&dc);
    uint32_t auth_attempt = 0;
    for (unsigned delay = 500; (rc == P2N_ECONNLOST || rc == P2N_EAUTH) && !g_stop;) {
        unsigned wait = delay;
        if (rc == P2N_EAUTH) {
            wait = p2n_backoff_ceiling_ms(dc.auth_base_ms, dc.auth_cap_ms, ++auth_attempt);
            P2N_ERROR("authentication failed: the password or the user is wrong, will retry much later",
                      "attempt=%u delay_ms=%u error=\"%s\"", auth_attempt, wait, msg);
        } else {
            P2N_WARN("could not start, will retry", "delay_ms=%u error=\"%s\"", wait, msg);
            delay = delay < 10000 ? delay * 2 : 10000;
        }
        for (unsigned t = 0; t < wait && !g_stop; t += 100)
            usleep(100000);
        if (!g_stop)
            rc = p2n_service_open(path, &s, msg, sizeof(msg));
    }
    if (rc < 0 && g_stop) {
        free(token);
        return CLI_OK;
    }
    if (rc < 0) {
        run_errorf("%s", msg);
        free(token);
        return rc == P2N_ECONFIG || rc == P2N_EINVAL ? CLI_USAGE : CLI_FAIL;
    }
    if (http_on) {
        rc = p2n_service_serve_http(s, addr, port, token);
        if (rc < 0 && !http_default) {
            run_errorf("%s", p2n_service_error(s));
            p2n_service_close(s);
            free(token);
            return CLI_FAIL;
        }
        if (rc < 0)
            P2N_WARN("HTTP status API not started", "error=\"%s\"", p2n_service_error(s));
    }
    /* systemd (Type=notify): ready once configured and serving; the watchdog is fed from the
       daemon loop's periodic hook, so it proves the loop, not just the process, is alive. */
    p2n_sd_notify("READY=1\nSTATUS=syncing");
    rc = p2n_scheduler_run(s, &g_stop);
    p2n_sd_notify("STOPPING=1");
    p2n_service_close(s);
    free(token);
    return rc < 0 ? CLI_FAIL : CLI_OK;
}

const CliCommand cli_cmd_run = {"run", "run the sync daemon (batches, wake-up, HTTP status and metrics)", run_run,
                                run_help};
