/* pg2neo: command dispatch, global options, and the top-level help. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/log.h"
#include "pg2neo.h"

extern const CliCommand cli_cmd_ping;
extern const CliCommand cli_cmd_check;
extern const CliCommand cli_cmd_infer;
extern const CliCommand cli_cmd_cypher;
extern const CliCommand cli_cmd_init;
extern const CliCommand cli_cmd_uninstall;
extern const CliCommand cli_cmd_triggers;
extern const CliCommand cli_cmd_sync;
extern const CliCommand cli_cmd_run;
extern const CliCommand cli_cmd_status;
extern const CliCommand cli_cmd_full_sync;
extern const CliCommand cli_cmd_verify;
extern const CliCommand cli_cmd_conflicts;
extern const CliCommand cli_cmd_resolve;
extern const CliCommand cli_cmd_history;

static const CliCommand *const commands[] = {
    &cli_cmd_ping,
    &cli_cmd_check,
    &cli_cmd_infer,
    &cli_cmd_cypher,
    &cli_cmd_init,
    &cli_cmd_uninstall,
    &cli_cmd_triggers,
    &cli_cmd_sync,
    &cli_cmd_run,
    &cli_cmd_status,
    &cli_cmd_full_sync,
    &cli_cmd_verify,
    &cli_cmd_conflicts,
    &cli_cmd_resolve,
    &cli_cmd_history,
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

void cli_errorf(const char *fmt, ...)
{
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    p2n_log_redact(msg);
    fprintf(stderr, "pg2neo: %s\n", msg);
}

int cli_wants_help(int argc, char **argv)
{
    return argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
}

static void usage(FILE *out)
{
    fprintf(out, "pg2neo %s: keeps a Neo4j graph in step with PostgreSQL\n\n", p2n_version());
    fprintf(out, "usage: pg2neo [--log-level LEVEL] [--log-format logfmt|json] COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-12s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(out, "\n'pg2neo COMMAND --help' describes a command.\n"
                 "exit codes: 0 success, 1 failure, 2 bad usage or input, 3 differences found\n");
}

int main(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
            printf("pg2neo %s\n", p2n_version());
            return CLI_OK;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return CLI_OK;
        } else if ((strcmp(a, "--log-level") == 0 || strcmp(a, "--log-format") == 0) && i + 1 < argc) {
            int v = a[6] == 'l' ? p2n_log_parse_level(argv[i + 1]) : p2n_log_parse_format(argv[i + 1]);
            if (v < 0) {
                cli_errorf("invalid value \"%s\" for %s", argv[i + 1], a);
                return CLI_USAGE;
            }
            if (a[6] == 'l')
                p2n_log_set_level((P2nLogLevel)v);
            else
                p2n_log_set_format((P2nLogFormat)v);
            i++;
        } else {
            cli_errorf("unknown option \"%s\"", a);
            usage(stderr);
            return CLI_USAGE;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return CLI_USAGE;
    }
    for (size_t c = 0; c < NCOMMANDS; c++) {
        if (strcmp(argv[i], commands[c]->name) == 0) {
            if (cli_wants_help(argc - i, argv + i)) {
                commands[c]->help();
                return CLI_OK;
            }
            return commands[c]->run(argc - i, argv + i);
        }
    }
    cli_errorf("unknown command \"%s\"", argv[i]);
    usage(stderr);
    return CLI_USAGE;
}
