/*
 * pg2neo: keeps a Neo4j graph in step with PostgreSQL.
 *
 * Public C API of libpg2neo. The pg2neo command is built on it; examples/embed.c shows how a
 * program embeds it. Words used throughout:
 *   change   a row inserted, updated or deleted in a mapped PostgreSQL table;
 *   entity   one mapped row, named by (entity_type, entity_id); the unit of sync;
 *   batch    the entities one runner claims and writes to Neo4j in one transaction;
 *   claim    a runner's hold on an entity (sync_status in_progress), with a lease;
 *   lease    how long a claim lasts before another runner may take the entity back;
 *   mapping  the YAML file that says which tables become which nodes and relationships.
 *
 * Conventions: functions return 0 or a negative P2N_E* code; p2n_strerror() names a code.
 */
#ifndef PG2NEO_H
#define PG2NEO_H

#ifdef __cplusplus
extern "C" {
#endif

#define PG2NEO_VERSION_MAJOR 0
#define PG2NEO_VERSION_MINOR 1
#define PG2NEO_VERSION_PATCH 0

/* Error codes: name, value, description. */
#define P2N_ERRNO_MAP(X)                                                        \
    X(OK, 0, "success")                                                         \
    X(ENOMEM, -1, "out of memory")                                              \
    X(EINVAL, -2, "invalid argument")                                           \
    X(EIO, -3, "input/output error")                                            \
    X(ETIMEDOUT, -4, "timed out")                                               \
    X(EPROTO, -5, "protocol error")                                             \
    X(EAUTH, -6, "authentication failed")                                       \
    X(ENEO4J, -7, "Neo4j reported a failure")                                   \
    X(EPG, -8, "PostgreSQL reported a failure")                                 \
    X(ECONFIG, -9, "invalid configuration")                                     \
    X(ECONNLOST, -10, "connection lost")                                        \
    X(EUNKNOWN_OUTCOME, -11, "connection lost after commit: outcome unknown")   \
    X(ETOOBIG, -12, "value too large")                                          \
    X(ENOTFOUND, -13, "not found")                                              \
    X(ESTATE, -14, "operation not valid in this state")                         \
    X(ETLS, -15, "TLS failure")                                                 \
    X(ECANCELED, -16, "canceled")                                               \
    X(EMISMATCH, -17, "data differs")

enum {
#define P2N_ERRNO_ENUM(name, val, text) P2N_##name = (val),
    P2N_ERRNO_MAP(P2N_ERRNO_ENUM)
#undef P2N_ERRNO_ENUM
};

/* What a caller should do about an error. */
typedef enum P2nErrClass {
    P2N_ERR_TRANSIENT = 1, /* retry, with backoff */
    P2N_ERR_PERMANENT = 2, /* do not retry: the input is at fault */
    P2N_ERR_FATAL = 3      /* the connection or credentials are unusable */
} P2nErrClass;

/* Describes an error code; never NULL. */
const char *p2n_strerror(int code);

/* "transient", "permanent" or "fatal". */
const char *p2n_err_class_name(P2nErrClass c);

/* The library's version, "MAJOR.MINOR.PATCH". */
const char *p2n_version(void);

#ifdef __cplusplus
}
#endif

#endif /* PG2NEO_H */
