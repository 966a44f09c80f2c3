/*
 * Options shared by init, uninstall and triggers: --schema NAME (the sync schema, default
 * public, or $P2N_SYNC_SCHEMA), --table SPEC (repeatable) and --tables-file FILE (one SPEC a line,
 * '#' comments). SPEC is "schema.table:EntityType:key1,key2[:arr1,arr2[:watched1,...]]".
 * A stand-in until the Mapping file drives capture; kept thin on purpose.
 */
#ifndef P2N_CLI_CAPTURE_ARGS_H
#define P2N_CLI_CAPTURE_ARGS_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "mapping/mapping.h"
#include "pg/capture.h"

typedef struct CliCaptureArgs {
    const char *schema;
    PgCaptureSpec *specs;
    PgCaptureTable *tables;   /* views of specs, for the pg API */
    size_t n;
    bool all;                 /* --all */
    bool yes;                 /* --yes */
    const char *positional;   /* first non-option argument, or NULL */
    const char *config;       /* --config FILE: the mapping (its sync.schema, its tables), or NULL */
    bool schema_set;          /* --schema or $P2N_SYNC_SCHEMA gave the schema (it beats sync.schema) */
} CliCaptureArgs;

/* Parses argv[first..]; prints the problem and returns CLI_USAGE on bad input (a is then freed),
   else 0. */
int cli_capture_args_parse(int argc, char **argv, int first, CliCaptureArgs *a);
void cli_capture_args_free(CliCaptureArgs *a);

/* Connects with DATABASE_URL (or the PG* variables); prints the error and returns NULL. */
PGconn *cli_pg_connect(void);

/* Connects with a mapping's source (its conninfo; DATABASE_URL when it names none). */
PGconn *cli_pg_connect_mapping(const Mapping *m);

#endif
