/*
 * The pg2neo command: one file per command (cmd_<name>.c), each exporting a CliCommand.
 * Exit codes: 0 success; 1 failure (the work could not be done); 2 bad usage or bad input;
 * 3 verify found differences.
 */
#ifndef P2N_CLI_H
#define P2N_CLI_H

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2, CLI_DIFF = 3 };

typedef struct CliCommand {
    const char *name;
    const char *summary;                 /* one line for `pg2neo --help` */
    int (*run)(int argc, char **argv);   /* argv[0] is the command name */
    void (*help)(void);                  /* prints `pg2neo <name> --help` */
} CliCommand;

/* Prints "pg2neo: <message>" to stderr, masking registered secrets. */
void cli_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* True when argv has --help or -h at position 1. */
int cli_wants_help(int argc, char **argv);

#endif
