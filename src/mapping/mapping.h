/*
 * The mapping: a YAML file that says which PostgreSQL tables become which Neo4j nodes and
 * relationships, how columns convert to property types, and where the servers are.
 * docs/mapping.md is the user's reference; this header is the sync engine's contract.
 *
 * Life cycle:
 *   mapping_load_file()      parse + structural checks (no server needed); every error names
 *                            file:line and, for an unknown key, the closest valid one
 *   mapping_catalog_load()   read the live catalog (libpq, read-only)
 *   mapping_resolve()        check every table, column, type and key against that catalog and
 *                            fix each column's conversion; builds each entity's MappingPlan
 *   mapping_free()
 * Nothing is written anywhere by any of these.
 *
 * ---- The engine's contract (per entity; MappingEntity.plan after mapping_resolve) ----
 * Entity ids are text, the queue's entity_id: a single key's canonical text (common/keyid.h:
 * `col::text` for integers and text types, numeric without trailing zeros, dates and timestamps
 * in a fixed ISO form, timestamptz in UTC, whatever the session's settings), or for a composite
 * key a JSON array of those texts, exactly as PostgreSQL's `array_to_json(ARRAY[...])::text`
 * prints it (`["1","x"]`, the capture triggers' form). mapping_sql_id_expr() gives that SQL
 * expression for any row alias (e.g. NEW/OLD in a trigger). For composite keys read_sql parses
 * the ids as JSON and returns each id exactly as given, so ids returned always compare equal
 * (strcmp) to ids asked.
 *
 * (a) plan.read_sql: one parameter, $1 = a text[] of entity ids (mapping_ids_param() builds it).
 *     Result columns: 0 `_p2n_id` (text id), 1 `_p2n_deleted` ('t' when the soft-delete filter
 *     matches, or for a join-table relationship when an endpoint is NULL), then
 *     entity.cols[i] at column 2 + i, cast so the encoder knows their text form. An id with no
 *     row, or a row whose _p2n_deleted is 't', is a delete. References are checked in the same
 *     query: a reference to a row of an entity with delete_when counts only if that row is live,
 *     an array element only if its row exists (so no placeholder revives a removed node).
 *     Then the held columns, at 2 + ncols: the references left out that way are not dropped but
 *     held (a target soft-deleted, or deleted and inserted again, whose node may still be in the
 *     graph because its own delete has not been synced yet):
 *       node entity:  one column per relationship, `_p2n_h<i>`: the held targets of
 *                     relationship i (same text form as the column), NULL when none can be;
 *       relationship: one column `_p2n_hold`, 't' when the row is live and both ends are set, so
 *                     a _p2n_deleted 't' only means an end's row is not live: the engine writes
 *                     such a row as a held upsert instead of a delete.
 * (b) mapping_row_encode(): one result row -> one PackStream map (the element of $rows):
 *       node entity:  {k: key (or [k1, k2..] when composite), v: version, p: {properties},
 *                      r0: [targets of relationship 0], r1: [...], ...,
 *                      h0: [held targets of relationship 0] (only for relationships to entities)}
 *       relationship: {h: held, id: entity id, v: version, f: from key, t: to key, p: {properties}}
 *     A row without the held columns (ncols + 2 values) encodes with nothing held.
 *     mapping_id_encode() encodes an id alone for deletes: {k, v} or {id, v}.
 *     `version` is supplied by the engine (any int64 that grows with each change of an entity);
 *     Neo4j keeps it in `_p2n_version` and ignores rows older than what it holds.
 * (c) plan.upsert[0..nupsert): Cypher statements, each taking the same $rows list (all encoded
 *     rows of one entity type), run in order in one transaction. The first MERGEs nodes (or the
 *     join-table relationship), skips rows older than the stored version, replaces all
 *     properties (`SET n = r.p`: a property that became NULL disappears) and stores the
 *     version; the following ones (one per relationship kind) MERGE current relationships, to a
 *     placeholder node holding only the key when the target does not exist yet, and delete
 *     those no longer present. Held targets are neither: the relationship is drawn only to a node
 *     still present (MATCH), so it is there if the target comes back before its delete is synced,
 *     and it goes with the node (DETACH DELETE) otherwise; a target whose node is already gone is
 *     revived by the engine (it queues the referring rows again when the node comes back). When
 *     everything has synced, no relationship points at a target that is not live. A relationship
 *     entity has two: upsert[0] for rows with h false (MERGE both ends), upsert[1] for held rows
 *     (MATCH both ends; drawn only when both nodes exist). plan.delete_cypher takes $rows of
 *     mapping_id_encode() maps.
 *     plan.schema[]: idempotent uniqueness constraints / indexes (run once before syncing).
 * Labels, relationship types and property names are backtick-quoted by mapping_cypher_ident()
 * (a backtick doubled, a backslash as \u005C) and must be valid UTF-8 (the loader and
 * mapping_resolve() refuse other names); values only ever travel as parameters.
 */
#ifndef P2N_MAPPING_H
#define P2N_MAPPING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"

/* The property written on nodes and relationships to make writes monotonic. */
#define MAPPING_VERSION_PROP "_p2n_version"
/* The property holding a join-table relationship's entity id. */
#define MAPPING_REL_ID_PROP "_p2n_id"
/* The start of every write statement (and of the engine's revival check): plan once, never
   replan — their plans do not depend on the statistics (gen.c explains). */
#define MAPPING_CYPHER_PLAN_ONCE "CYPHER replan=skip\n"
/* What every connection that reads mapped rows (read_sql) sets first, so that the text forms
   the encoder parses never depend on the client's environment (PGOPTIONS, PGDATESTYLE...):
   floats shortest and exact, dates and timestamps in ISO form (DateStyle's field order for input
   is kept), intervals in the postgres style. */
#define MAPPING_SESSION_SQL "SET extra_float_digits = 1; SET DateStyle = ISO; SET IntervalStyle = postgres"
/* Limits of the loader (hostile files). */
#define MAPPING_MAX_FILE_SIZE (4u * 1024u * 1024u)
#define MAPPING_MAX_ITEMS 10000u

/* How a column's value becomes a Neo4j value. */
typedef enum MappingConv {
    MAPPING_CONV_AUTO = 0,      /* decided from the column's type by mapping_resolve() */
    MAPPING_CONV_INT,           /* smallint, integer, bigint, oid */
    MAPPING_CONV_FLOAT,         /* real, double precision; numeric when chosen */
    MAPPING_CONV_BOOL,
    MAPPING_CONV_STRING,        /* text and anything else via ::text (uuid, enums, numeric...) */
    MAPPING_CONV_DATETIME,      /* timestamptz -> DateTime (UTC offset 0) */
    MAPPING_CONV_LOCALDATETIME, /* timestamp -> LocalDateTime */
    MAPPING_CONV_DATE,          /* date -> Date */
    MAPPING_CONV_MAP,           /* json/jsonb object flattened into <property>.<key> properties */
    MAPPING_CONV_BYTES          /* bytea -> byte array */
} MappingConv;

/* "int", "float", ...; NULL for an out-of-range value. */
const char *mapping_conv_name(MappingConv c);
/* Parses a conversion name as written in the file; -1 when unknown. */
int mapping_conv_parse(const char *s);

typedef struct MappingStr {
    char *s;
    int line;
} MappingStr;

typedef struct MappingPair {
    char *key;   /* column */
    char *value; /* property name or conversion name */
    int line;
} MappingPair;

/* One selected column (after mapping_resolve). */
typedef struct MappingColumn {
    char *column;      /* PostgreSQL column name */
    char *property;    /* Neo4j property name; NULL for a column read only for a relationship */
    MappingConv conv;  /* of the value, or of each element when is_array */
    bool is_array;
    char *pg_type;     /* catalog type name, e.g. "uuid" (element type for arrays) */
    char *sql_type;    /* format_type() form for casts, e.g. "timestamp with time zone" */
    int max_chars;     /* n of varchar(n) / char(n) (of each element for arrays); -1 for none */
    bool key_form;     /* a key, or a reference to one: a string conversion is the id's text
                          (common/keyid.h), every conversion equals what the id encodes to */
} MappingColumn;

typedef enum MappingEntityKind {
    MAPPING_NODE = 0, /* a table whose rows are nodes */
    MAPPING_LINK = 1  /* a join table whose rows are relationships */
} MappingEntityKind;

/* A relationship read from a column of a node entity's row. */
typedef struct MappingRel {
    int line;             /* of the relationship (its "- type:" item) */
    int column_line, to_line; /* of its column: and to: values (errors about them point there) */
    char *type;           /* relationship type */
    char *column;         /* FK column, array of keys, or scalar(s) for value nodes */
    char *to_entity;      /* target entity name (FK / array of keys) */
    char *value_label;    /* value nodes: label and key property (to_entity NULL) */
    char *value_property;
    bool incoming;        /* direction: false (n)-[:T]->(target), true (n)<-[:T]-(target) */
    /* resolved */
    int target;           /* entity index, -1 for value nodes */
    int col;              /* index into the entity's cols */
} MappingRel;

/* One end of a join-table relationship. */
typedef struct MappingEnd {
    char *entity;
    char *column;
    int line;
    int target; /* resolved entity index */
    int col;    /* resolved index into cols */
} MappingEnd;

typedef struct MappingPlan {
    char *read_sql;
    char **upsert;
    size_t nupsert;
    char *delete_cypher;
    char **schema;
    size_t nschema;
} MappingPlan;

typedef struct MappingEntity {
    MappingEntityKind kind;
    char *name; /* entity_type in the queue */
    int line;
    char *schema; /* NULL: the source's schema */
    char *table;
    int table_line;
    /* nodes */
    MappingStr *labels; /* labels[0] is the primary label (MERGE and constraint); default: name */
    size_t nlabels;
    MappingRel *rels;
    size_t nrels;
    /* relationships (join tables) */
    char *rel_type;
    MappingEnd from, to;
    /* both */
    MappingStr *keys;
    size_t nkeys;
    int key_line;
    bool props_all;       /* true unless `properties:` lists columns */
    MappingStr *include;  /* with props_all false */
    size_t ninclude;
    MappingStr *exclude;
    size_t nexclude;
    MappingPair *renames; /* column -> property */
    size_t nrenames;
    MappingPair *converts; /* column -> conversion name */
    size_t nconverts;
    char *delete_when; /* operator-written SQL boolean expression over the row (trusted config) */
    int delete_when_line;
    /* resolved by mapping_resolve() */
    bool resolved;
    MappingColumn *cols; /* select order: key columns first, then properties, then others */
    size_t ncols;
    size_t *key_cols; /* nkeys indexes into cols */
    MappingPlan plan;
} MappingEntity;

typedef struct MappingSync {
    int64_t sync_interval_ms;  /* syncIntervalMs, 300000 */
    int64_t batch_size_limit;  /* batchSizeLimit, 100 */
    int64_t sync_timeout_ms;   /* syncTimeoutMs, 30000 */
    bool enable_auto_sync;     /* enableAutoSync, true */
    int64_t max_attempts;      /* maxAttempts, 3 */
    int64_t backoff_base_ms;   /* backoffBaseMs, 1000 */
    int64_t backoff_cap_ms;    /* backoffCapMs, 60000 */
    int64_t conflict_scan_interval_ms; /* conflictScanIntervalMs, 60000; 0 = no conflict scan */
    int64_t conflict_scan_sample;      /* conflictScanSample, 100 entities per type and scan */
    int64_t audit_retention_days;      /* auditRetentionDays, 30; 0 = no audit trail */
    char *schema;                      /* schema: the sync schema, NULL = not set (see mapping_sync_schema) */
} MappingSync;

/* The alerts section: thresholds and windows of the daemon's alert rules (src/sync/alerts.h).
   A threshold of -1 disables its rule. */
typedef struct MappingAlerts {
    int64_t pending_threshold;   /* pendingThreshold, 100 (pending entities) */
    int64_t pending_for_ms;      /* pendingForMs, 300000 */
    int64_t failed_threshold;    /* failedThreshold, 5 (failed attempts in the window) */
    int64_t failed_window_ms;    /* failedWindowMs, 3600000 */
    int64_t latency_ms;          /* latencyMs, 5000 (commit-to-graph latency) */
    int64_t batch_duration_ms;   /* batchDurationMs, 120000 */
    int64_t conflicts_threshold; /* conflictsThreshold, 0 */
    int64_t staleness_warn_ms;   /* stalenessWarnMs, 3600000 */
    int64_t staleness_alert_ms;  /* stalenessAlertMs, 86400000 */
    char *webhook_url;           /* webhookUrl, NULL = no webhook */
    int64_t webhook_timeout_ms;  /* webhookTimeoutMs, 5000 */
} MappingAlerts;

typedef struct Mapping {
    char *path; /* as given, for messages */
    /* source */
    char *conninfo;      /* libpq conninfo or URL; "" = PG* environment */
    const char *conninfo_from; /* where it came from, for messages: "DATABASE_URL", "the mapping's
                                  source.conninfo" ... (a static string) */
    char *source_schema; /* default "public" */
    int capture_mode;    /* source.capture: 0 triggers (default), 1 statement (triggers with transition
                            tables for UPDATEs), 2 logical (a replication slot, no trigger):
                            the values of PgCaptureMode (pg/capture.h) */
    /* target */
    char *neo4j_uri;      /* default NEO4J_URI or bolt://localhost:7687 */
    char *neo4j_user;     /* default NEO4J_USER or neo4j */
    char *neo4j_password; /* NEO4J_PASSWORD, `password:` or `password_file:`; never printed */
    const char *neo4j_password_from; /* where it came from ("NEO4J_PASSWORD", "NEO4J_PASSWORD_FILE",
                                        "the mapping's target.password" ...; static); NULL = none */
    const char *neo4j_user_from;     /* "NEO4J_USER", "the mapping's target.user" or "the default" */
    char *neo4j_database; /* "" = the server's default database */
    MappingSync sync;
    MappingAlerts alerts;
    MappingEntity *entities;
    size_t nentities;
} Mapping;

/* Looks up an environment variable; NULL when unset. Tests and the fuzzer pass their own. */
typedef const char *(*MappingEnvFn)(const char *name, void *ctx);

/* Every problem found, each "file:line: message" (a loader or resolver collects them all). */
typedef struct MappingDiags {
    char **msgs;
    size_t n;
    size_t cap;
} MappingDiags;

void mapping_diags_free(MappingDiags *d);
void mapping_diags_add(MappingDiags *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Parses a mapping from text (path is used only in messages and may be NULL: "<string>").
 * env may be NULL (getenv). On success *out is a new Mapping and 0 is returned; otherwise every
 * problem is in diags (if not NULL), err holds the first with a count, and P2N_ECONFIG (or
 * P2N_ENOMEM) is returned. Secrets read (passwords) are registered with p2n_log_add_secret().
 */
int mapping_load_string(const char *text, size_t len, const char *path, MappingEnvFn env,
                        void *env_ctx, Mapping **out, MappingDiags *diags, P2nErr *err);
/* Reads the file (at most MAPPING_MAX_FILE_SIZE) and calls mapping_load_string(). */
int mapping_load_file(const char *path, MappingEnvFn env, void *env_ctx, Mapping **out,
                      MappingDiags *diags, P2nErr *err);
void mapping_free(Mapping *m);

/* The entity with that name, or NULL. */
MappingEntity *mapping_entity_find(const Mapping *m, const char *name);

/* ---- the catalog (what the database has) ---- */
typedef struct MappingCatColumn {
    char *name;
    char *type;     /* pg_type.typname of the (domain's base) type, element type for arrays */
    char *sql_type; /* format_type(), e.g. "uuid[]", "numeric(14,2)" */
    bool is_array;
    bool is_enum;
    bool not_null;
    int max_chars;  /* n of varchar(n) / char(n), also for arrays and domains; -1 for none */
    char *comment;  /* COMMENT ON COLUMN, NULL for none (mapping_catalog_load_links) */
} MappingCatColumn;

/* A foreign key (mapping_catalog_load_links): cols[i] references ref_cols[i]. */
typedef struct MappingCatFkey {
    char *name;       /* the constraint's name */
    char **cols;      /* referencing columns in key order, NULL-terminated */
    char *ref_schema;
    char *ref_table;
    char **ref_cols;  /* referenced columns, NULL-terminated */
} MappingCatFkey;

typedef struct MappingCatTable {
    char *schema;
    char *name;
    MappingCatColumn *cols;
    size_t ncols;
    char ***uniques; /* each unique index / primary key as a NULL-terminated column list */
    size_t nuniques;
    int pkey; /* index into uniques of the primary key, -1 if none */
    /* filled by mapping_catalog_load_links() (zero otherwise) */
    char kind;            /* pg_class.relkind: 'r' table, 'p' partitioned, 'v' view, 'm' materialized
                             view, 'f' foreign table; 0 unknown (a table) */
    char *parent_schema;  /* a partition: its parent table; NULL otherwise */
    char *parent_name;
    char *comment;        /* COMMENT ON TABLE, NULL for none */
    char *extension;      /* the extension that created it (PostGIS's spatial_ref_sys), NULL for none */
    MappingCatFkey *fkeys; /* foreign keys declared on this table (not their partition clones) */
    size_t nfkeys;
} MappingCatTable;

typedef struct MappingCatalog {
    MappingCatTable *tables;
    size_t ntables;
} MappingCatalog;

/* Reads every user table (and view) with its columns and unique keys. Needs only SELECT. */
struct pg_conn;
int mapping_catalog_load(struct pg_conn *conn, MappingCatalog *cat, P2nErr *err);
void mapping_catalog_free(MappingCatalog *cat);
/* Adds to a loaded catalog what `pg2neo infer` needs beyond check: each relation's kind, the
   parent of each partition, table and column comments, and foreign keys. Needs only SELECT. */
int mapping_catalog_load_links(struct pg_conn *conn, MappingCatalog *cat, P2nErr *err);
/* Adds a foreign key (NULL-terminated column lists of equal length) to a hand-built table. */
MappingCatFkey *mapping_catalog_add_fkey(MappingCatTable *t, const char *name, const char *const *cols,
                                         const char *ref_schema, const char *ref_table,
                                         const char *const *ref_cols);
/* True when the column's type can be an entity key (what mapping_resolve() accepts). */
bool mapping_catalog_key_type_ok(const MappingCatColumn *c);
/* True when a reference column of element type a can point at a key of type b (what
   mapping_resolve() accepts: the same type, or any two integer types). */
bool mapping_catalog_ref_type_ok(const char *a, const char *b);
/* Building a catalog by hand (tests): returns the table / column just added. */
MappingCatTable *mapping_catalog_add_table(MappingCatalog *cat, const char *schema, const char *name);
MappingCatColumn *mapping_catalog_add_column(MappingCatTable *t, const char *name, const char *type,
                                             bool is_array, bool not_null);
/* Adds a unique key (NULL-terminated column names); primary marks it as the primary key. */
void mapping_catalog_add_unique(MappingCatTable *t, const char *const *cols, bool primary);

/*
 * Checks the mapping against the catalog: every table, column, type, key, relationship target
 * and conversion. Each problem goes to diags as "file:line: entity "X": ... (did you mean ...)".
 * On success every entity is resolved and its plan built. Returns 0 or P2N_ECONFIG.
 */
int mapping_resolve(Mapping *m, const MappingCatalog *cat, MappingDiags *diags, P2nErr *err);

/* The longest string Neo4j 5.26's range index (uniqueness constraints, the join-table id index)
   takes as a single-property value, in bytes of UTF-8: a longer key, value-node name or
   join-table id fails its write with "Property value is too large to index" (measured: 8,164
   accepted, 8,165 refused; the parts of a composite key share it). */
#define MAPPING_NEO4J_INDEX_MAX_BYTES 8164

/*
 * Warnings for a resolved mapping (check prints them; nothing is refused): each key column,
 * value-node column and join-table key column whose type can hold text longer than
 * MAPPING_NEO4J_INDEX_MAX_BYTES (text, citext, xml, varchar/char without a limit or over 2,041
 * characters, ...): a row holding such a value cannot sync. "file:line: entity "E": ..." each.
 */
void mapping_limit_warnings(const Mapping *m, MappingDiags *warns);

/*
 * With a live connection: PREPAREs (never runs) each entity's read_sql, which checks the
 * soft-delete expressions and the casts, reporting file:line. Returns 0 or P2N_ECONFIG.
 */
int mapping_check_sql(const Mapping *m, struct pg_conn *conn, MappingDiags *diags, P2nErr *err);

/* ---- generator helpers ---- */
/*
 * The one escaper of every label, relationship type, property key and schema name that reaches
 * Cypher text: appends `name` inside backticks so that Neo4j reads back exactly name, whatever it
 * holds. A backtick is doubled; a backslash is written \u005C, because Neo4j (5.x) replaces every
 * \uXXXX of a query before it tokenizes, inside quoted names too ("\u0060" there is a backtick
 * that ends the name); nothing else is special in a quoted name (newlines, "//", quotes...).
 * A byte that does not start valid UTF-8 is written as U+FFFD, so the output is always valid
 * UTF-8 and never more than one name; such a name does not read back identical, which is why
 * mapping_neo4j_name_problem() refuses it at load / resolve time.
 */
void mapping_cypher_ident(P2nBuf *b, const char *name);
/* Appends s as a single-quoted Cypher string literal (backslash escapes for \\ ' and newlines,
   tabs; invalid UTF-8 as U+FFFD, as above); Neo4j reads back exactly s. */
void mapping_cypher_string(P2nBuf *b, const char *s);
/* NULL when name can be a Neo4j label, relationship type or property key that reads back
   byte-identical through mapping_cypher_ident(); else why not ("is empty", "is not valid UTF-8
   (byte 0xC3 at offset 4)"), possibly written into buf. */
const char *mapping_neo4j_name_problem(const char *name, char *buf, size_t size);
/* The length (1-4) of the valid UTF-8 sequence (RFC 3629: no overlong form, no surrogate, at
   most U+10FFFF) at s, avail bytes available; 0 when s does not start one. */
size_t mapping_utf8_seq(const char *s, size_t avail);
/* The offset of the first byte of s[0..len) that is not valid UTF-8, or SIZE_MAX. */
size_t mapping_utf8_invalid_at(const char *s, size_t len);
/* Appends "name" with each double quote doubled (SQL). */
void mapping_sql_ident(P2nBuf *b, const char *name);
/* Appends the SQL expression for the entity id of a row named `alias` (e.g. "NEW"). */
void mapping_sql_id_expr(const MappingEntity *e, const char *alias, P2nBuf *b);
/* Appends a PostgreSQL text[] literal holding ids (the $1 of read_sql). */
void mapping_ids_param(const char *const *ids, size_t n, P2nBuf *b);
/* The schema-qualified table of an entity, quoted. */
void mapping_sql_table(const Mapping *m, const MappingEntity *e, P2nBuf *b);
/* Builds e->plan (called by mapping_resolve). */
int mapping_plan_build(const Mapping *m, MappingEntity *e, P2nErr *err);

/*
 * What the capture triggers of a resolved entity must watch. *watched (NULL-terminated, free the
 * array only: the strings belong to the entity) lists the columns whose change must queue the
 * entity: every column read by read_sql; NULL when every column must be watched (a delete_when
 * expression may read any column). *arrays lists the array columns read for relationships (their
 * element diffs matter). Returns 0 or P2N_ENOMEM.
 */
int mapping_capture_columns(const MappingEntity *e, const char ***watched, const char ***arrays, P2nErr *err);

/* ---- row encoding ---- */
/*
 * Encodes row `row` of a read_sql result (text format) as one $rows map (see the contract at the
 * top). Errors (P2N_EINVAL: a value that does not parse as its declared type) name the entity,
 * the id and the column. The caller should not send a row for which this fails.
 */
struct pg_result;
int mapping_row_encode(const MappingEntity *e, const struct pg_result *res, int row,
                       int64_t version, P2nBuf *out, P2nErr *err);
/* Same, from the row's column values as strings (NULL = SQL NULL): vals[i] is result column i. */
int mapping_row_encode_values(const MappingEntity *e, const char *const *vals, size_t nvals,
                              int64_t version, P2nBuf *out, P2nErr *err);
/* Encodes an id for plan.delete_cypher: {k, v} (node) or {id, v} (relationship). The key value
   is the one the row encodes to: a date key's Date from the id's text, and so on. */
int mapping_id_encode(const MappingEntity *e, const char *id, int64_t version, P2nBuf *out,
                      P2nErr *err);

/* ---- report ---- */
/* Appends a readable summary of the graph model (labels, keys, properties, relationships). */
void mapping_summary(const Mapping *m, P2nBuf *b);
/* Edit distance (bytes; insert, delete, substitute, or swap two neighbours: optimal string
   alignment), capped at 255; used for "did you mean". */
unsigned mapping_edit_distance(const char *a, const char *b);
/* The candidate closest to s (ignoring case; a tie goes to one with s's first letter) if close
   enough to be a plausible typo, else NULL. */
const char *mapping_closest(const char *s, const char *const *cands, size_t n);

/*
 * The sync schema, in this order: $P2N_SYNC_SCHEMA (which a command's --schema sets), the
 * mapping's sync.schema (m may be NULL), "public".
 */
const char *mapping_sync_schema(const Mapping *m);

#endif
